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
 * A check never throws: if the audit log cannot be written (Redis down) the change is neither
 * applied nor forgotten — the last good set stays in force, the failure is logged, and the next
 * check tries again (the audit dedup key keeps that to one entry).
 */
export class PlaybookReloader {
  private current: readonly Playbook[];
  private lastDigest: string;
  /** Content last logged as rejected, so a retried audit does not log the rejection again. */
  private rejectedDigest: string | null = null;
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
    // check() never rejects; the catch is a last guard so a timer can never crash the daemon.
    this.timer = setInterval(() => {
      this.check().catch((e: unknown) => {
        this.logFailure(e);
      });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.checking;
  }

  /**
   * Reads the files once and applies a valid change. Never rejects: a failure (unreadable files,
   * audit log down) is logged, the last good set stays, and the next check retries.
   */
  check(): Promise<void> {
    this.checking ??= this.doCheck()
      .catch((e: unknown) => {
        this.logFailure(e);
      })
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  private logFailure(e: unknown): void {
    try {
      this.deps.log.error({ err: e }, 'playbook reload check failed; keeping the current playbooks, will retry');
    } catch {
      // Nothing left to report to; the next check retries.
    }
  }

  private async doCheck(): Promise<void> {
    const res = await readPlaybookFiles(this.paths);
    const d = digest(res.texts);
    if (d === this.lastDigest) return;
    const at = this.deps.clock.now();
    if (res.problems.length > 0) {
      if (this.rejectedDigest !== d)
        this.deps.log.error({ problems: res.problems }, 'playbook reload rejected; keeping the last good playbooks');
      this.rejectedDigest = d;
      await this.deps.audit.append({
        type: 'playbooks.rejected',
        at,
        message: `playbook change rejected, still using ${this.current.map((p) => p.name).join(', ')}: ${res.problems.join('; ')}`,
        data: { problems: res.problems },
        dedupKey: `playbooks.rejected--${d}`,
      });
      this.lastDigest = d;
      return;
    }
    // Audited before it takes effect: no playbook set is ever in force without its audit entry.
    await this.deps.audit.append({
      type: 'playbooks.reloaded',
      at,
      message: `playbooks reloaded: ${res.playbooks.map((p) => `${p.name} (${p.mode})`).join(', ')}`,
      data: { playbooks: res.playbooks.map((p) => p.name) },
      dedupKey: `playbooks.reloaded--${d}`,
    });
    this.current = res.playbooks;
    this.lastDigest = d;
    this.deps.log.info({ playbooks: res.playbooks.map((p) => p.name) }, 'playbooks reloaded');
  }
}

function digest(texts: readonly string[]): string {
  const h = createHash('sha256');
  for (const t of texts) h.update(t).update('\u0000');
  return h.digest('hex');
}
