// The parts the list-and-detail pages (Topics, Consumers) build alike: the detail loader, the
// "add or update" panel, the update/delete buttons and the offset reset of a group on a topic.
import { actionButton, api, errorBox, form, h, show } from "./ui.js";

/**
 * Loads and shows one item's detail. `result` holds the results of the detail's actions: it
 * lives outside the detail, so reloading the detail after an action (keepResult) keeps them.
 */
export async function openDetail(detail, result, { name, load, render, keepResult = false }) {
  if (!keepResult) show(result);
  show(detail, h("p", { class: "muted" }, `loading ${name}…`));
  try {
    show(detail, render(await load()));
    return true;
  } catch (err) {
    show(detail, errorBox(err));
    return false;
  }
}

/** The "add or update" panel: `f` a form(), `save()` resolves to the text shown on success. */
export function savePanel(dataForm, title, f, save) {
  const res = h("div", {});
  return h(
    "div",
    { class: "panel", "data-form": dataForm },
    h("h2", {}, title),
    f.el,
    h("p", {}, actionButton("Save", res, save, "primary")),
    res,
  );
}

/**
 * Update and delete of an existing item: its form (name read-only) and the two buttons;
 * `remove` asks for confirmation itself (a "" result shows nothing).
 */
export function updateDeletePanel(el, res, { f, update, deleteLabel, remove }) {
  el.append(
    f.el,
    h(
      "p",
      {},
      actionButton("Update", res, update, "primary"),
      " ",
      actionButton(deleteLabel, res, remove, "danger"),
    ),
  );
}

const queueOffsets = (r) => r.offsets.map((o) => `q${o.mq.queueId}=${o.offset}`).join(" ");

/**
 * Offset reset of a group on a topic, to a time or past the backlog. `choice` is the form
 * field that picks the other half (the topic of a group, the group of a topic); `target(v)`
 * gives {group, topic} from the form's values; `what(r)` names what was reset in the answer.
 */
export function resetOffsetPanel(el, res, { choice, target, reopen, what }) {
  const f = form([
    choice,
    { name: "time", label: "To the first message stored at or after", type: "datetime-local" },
  ]);
  const reset = async (extra) => {
    const r = await api.post("/api/consumers/resetOffset", { ...target(f.values()), ...extra });
    reopen();
    return r;
  };
  el.append(
    h("div", { "data-form": "reset-offset" }, f.el),
    h(
      "p",
      {},
      actionButton(
        "Reset to time",
        res,
        async () => {
          const v = f.values();
          const r = await reset({ timestamp: v.time ? new Date(v.time).getTime() : 0 });
          return `offsets${what(r)} reset: ${queueOffsets(r)}`;
        },
        "primary",
      ),
      " ",
      actionButton("Skip backlog (to the end)", res, async () => {
        const r = await reset({ skip: true });
        return `offsets${what(r)} moved to the end: ${queueOffsets(r)}`;
      }),
    ),
  );
}

/** A select of `names` (a free text field when there are none). */
export function choiceField(name, label, names) {
  return { name, label, value: names[0] ?? "", ...(names.length ? { options: names } : {}) };
}
