// Module hooks for resolve-deps.mjs (runs on the loader thread).
const FALLBACK_PARENT = new URL("../package.json", import.meta.url).href;
const BARE = /^(?![./]|[a-z]+:)/i; // not relative, absolute or a URL (node:, file:)

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !BARE.test(specifier)) throw err;
    return next(specifier, { ...context, parentURL: FALLBACK_PARENT });
  }
}
