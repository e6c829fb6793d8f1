/**
 * Carrier keywords (CTIA; what SMS providers honour by default). Only a message that is one of these words alone counts, in any
 * case, with surrounding spaces and punctuation ignored: "stop" and "STOP!" opt out, "please stop texting me"
 * does not (it reaches staff as a message).
 */
export const OPT_OUT_KEYWORDS = ['STOP', 'UNSUBSCRIBE', 'END', 'QUIT', 'STOPALL', 'REVOKE', 'OPTOUT', 'CANCEL'] as const;
export const OPT_IN_KEYWORDS = ['START', 'YES', 'UNSTOP'] as const;
export const HELP_KEYWORDS = ['HELP', 'INFO'] as const;

export type Keyword = 'opt_out' | 'opt_in' | 'help';

const table = new Map<string, Keyword>([
  ...OPT_OUT_KEYWORDS.map((k) => [k, 'opt_out'] as const),
  ...OPT_IN_KEYWORDS.map((k) => [k, 'opt_in'] as const),
  ...HELP_KEYWORDS.map((k) => [k, 'help'] as const),
]);

export function keywordOf(body: string): Keyword | null {
  const word = body
    .normalize('NFKC')
    .trim()
    .replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '')
    .toUpperCase();
  return table.get(word) ?? null;
}
