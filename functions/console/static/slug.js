// The id the admin API will give a bot of this name (admin_service.slugify, same rules): a preview only,
// the API decides (it appends -2, -3 on a collision).
const CYRILLIC = {
  а: "a", б: "b", в: "v", г: "g", д: "d", е: "e", ё: "e", ж: "zh", з: "z", и: "i", й: "y", к: "k", л: "l",
  м: "m", н: "n", о: "o", п: "p", р: "r", с: "s", т: "t", у: "u", ф: "f", х: "h", ц: "ts", ч: "ch", ш: "sh",
  щ: "sch", ъ: "", ы: "y", ь: "", э: "e", ю: "yu", я: "ya",
};
const MAX_SLUG = 48;

export function slugify(name) {
  const transliterated = Array.from(name.toLowerCase(), (ch) => (ch in CYRILLIC ? CYRILLIC[ch] : ch)).join("");
  // eslint-disable-next-line no-control-regex
  const ascii = transliterated.normalize("NFKD").replace(/[^\x00-\x7f]/g, "");
  const slug = ascii.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, MAX_SLUG).replace(/^-+|-+$/g, "");
  return slug || "instance";
}
