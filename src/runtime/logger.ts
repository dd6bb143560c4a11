import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON logs on stderr (stdout stays free for command output). Constant messages, data in fields. */
export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { app: 'spire-healer' } }, pino.destination(2));
}

/** A logger that drops everything (for commands whose output is the timeline). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
