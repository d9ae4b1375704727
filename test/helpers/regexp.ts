/** A regular expression source matching TEXT literally (Debian 13's kernel names hold a '+'). */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
