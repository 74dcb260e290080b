/** Java's String.hashCode over UTF-16 code units, as a signed 32-bit int (spec §7.7). */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Tag hash stored in a consume-queue entry: 0 for no tag or an empty one. */
export function tagsHashCode(tags: string | undefined): number {
  return tags ? javaStringHashCode(tags) : 0;
}
