import type { Redis } from 'ioredis';

/** A Lua script bound to a connection: call it with its keys, then its arguments. */
export type LuaCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;

/**
 * Registers `lua` on `redis` as a custom command (ioredis defineCommand: EVALSHA by the script's
 * SHA1, with EVAL once after a Redis restart or SCRIPT FLUSH), so a hot path sends a 40-byte hash
 * instead of the script text on every call. Idempotent per connection and name; names are
 * prefixed so scripts of different stores on a shared connection cannot collide.
 */
export function luaCommand(redis: Redis, name: string, numberOfKeys: number, lua: string): LuaCommand {
  const command = `spireHealer_${name}`;
  const target = redis as unknown as Record<string, unknown>;
  if (typeof target[command] !== 'function') redis.defineCommand(command, { numberOfKeys, lua });
  const fn = target[command] as (...a: (string | number)[]) => Promise<unknown>;
  return (...keysAndArgs) => fn.apply(redis, keysAndArgs);
}
