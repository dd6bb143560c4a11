/** Parses "500ms", "30s", "5m", "1h", "1h30m" into milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  const s = text.trim();
  if (s === '') return null;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const n = Number(m[1]);
    const unit = m[2];
    const factor = unit === 'ms' ? 1 : unit === 's' ? 1_000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
    total += n * factor;
    matched = re.lastIndex;
  }
  return matched === s.length ? Math.round(total) : null;
}
