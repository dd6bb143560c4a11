import type { Redis } from 'ioredis';

/**
 * Deletes every key under `${prefix}:` (SCAN, never KEYS, so a large Redis is not blocked).
 * Used to start a simulation namespace clean; returns how many keys were deleted.
 */
export async function wipeKeyPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
