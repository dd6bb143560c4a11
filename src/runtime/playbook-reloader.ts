import { createHash } from 'node:crypto';
import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { Playbook } from '../plan/playbooks/playbook.js';
import type { Logger } from './logger.js';
import { readPlaybookFiles } from './playbook-loader.js';

/**
 * Hot reload of the playbook files: polls their content (editors replace files, so content is
 * compared, not inotify events) and swaps in the new set when every file parses. An invalid
 * edit keeps the last good set; the error is logged and audited once per distinct content.
 */
export class PlaybookReloader {
  private current: readonly Playbook[];
  private lastDigest: string;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;

  constructor(
    private readonly paths: readonly string[],
    initial: readonly Playbook[],
    initialTexts: readonly string[],
    private readonly deps: { readonly audit: AuditLog; readonly clock: Clock; readonly log: Logger },
  ) {
    this.current = initial;
    this.lastDigest = digest(initialTexts);
  }

  /** The playbooks in force. */
  playbooks(): readonly Playbook[] {
    return this.current;
  }

  start(intervalMs: number): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => { void this.check(); }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.checking;
  }

  /** Reads the files once; returns what happened (for tests and the API). */
  check(): Promise<void> {
    this.checking ??= this.doCheck().finally(() => { this.checking = null; });
    return this.checking;
  }

  private async doCheck(): Promise<void> {
    const res = await readPlaybookFiles(this.paths);
    const d = digest(res.texts);
    if (d === this.lastDigest) return;
    this.lastDigest = d;
    const at = this.deps.clock.now();
    if (res.problems.length > 0) {
      this.deps.log.error({ problems: res.problems }, 'playbook reload rejected; keeping the last good playbooks');
      await this.deps.audit.append({
        type: 'playbooks.rejected', at, message: `playbook change rejected, still using ${this.current.map((p) => p.name).join(', ')}: ${res.problems.join('; ')}`,
        data: { problems: res.problems }, dedupKey: `playbooks.rejected--${d}`,
      });
      return;
    }
    this.current = res.playbooks;
    this.deps.log.info({ playbooks: res.playbooks.map((p) => p.name) }, 'playbooks reloaded');
    await this.deps.audit.append({
      type: 'playbooks.reloaded', at, message: `playbooks reloaded: ${res.playbooks.map((p) => `${p.name} (${p.mode})`).join(', ')}`,
      data: { playbooks: res.playbooks.map((p) => p.name) }, dedupKey: `playbooks.reloaded--${d}`,
    });
  }
}

function digest(texts: readonly string[]): string {
  const h = createHash('sha256');
  for (const t of texts) h.update(t).update('\u0000');
  return h.digest('hex');
}
