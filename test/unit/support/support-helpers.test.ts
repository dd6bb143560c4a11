import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../../src/support/abortable-sleep.js';
import { mapBounded, runPaced } from '../../../src/support/paced-pool.js';
import { untilAborted } from '../../../src/support/until-aborted.js';

describe('abortable sleep', () => {
  it('resolves after the time', async () => {
    const t0 = performance.now();
    await sleep(20);
    assert.ok(performance.now() - t0 >= 15);
  });

  it("rejects with the signal's reason as soon as it aborts", async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const waiting = sleep(10_000, ac.signal);
    ac.abort(new Error('shutting down'));
    await assert.rejects(waiting, /shutting down/);
    assert.ok(performance.now() - t0 < 1_000);
  });

  it('rejects at once when the signal already aborted, with an AbortError when the reason is no Error', async () => {
    const ac = new AbortController();
    ac.abort('not an error');
    await assert.rejects(sleep(10_000, ac.signal), { name: 'AbortError' });
  });
});

describe('paced pool', () => {
  it('runs every task with at most `concurrency` in flight', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runPaced(10, { concurrency: 3 }, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(5);
      running--;
      done.push(i);
    });
    assert.deepEqual(
      [...done].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(peak, 3);
  });

  it('starts no new task once the signal aborted', async () => {
    const ac = new AbortController();
    const started: number[] = [];
    await runPaced(10, { concurrency: 1, signal: ac.signal }, async (i) => {
      started.push(i);
      if (i === 2) ac.abort();
      await Promise.resolve();
    });
    assert.deepEqual(started, [0, 1, 2]);
  });

  it('mapBounded keeps the order of its items whatever order the calls finish in', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapBounded([30, 5, 20, 1, 10], 2, async (ms) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(ms);
      running--;
      return ms * 2;
    });
    assert.deepEqual(out, [60, 10, 40, 2, 20]);
    assert.equal(peak, 2);
    assert.deepEqual(await mapBounded([], 4, () => Promise.resolve(1)), []);
  });
});

describe('untilAborted', () => {
  const abortError = (): Error => new Error('gave up');

  it('does not start the call when the signal is aborted already', async () => {
    const ac = new AbortController();
    ac.abort();
    let started = false;
    const call = (): Promise<string> => {
      started = true;
      return Promise.resolve('done');
    };
    await assert.rejects(untilAborted(call, ac.signal, abortError), /gave up/);
    assert.equal(started, false);
  });

  it('releases the caller on abort, and a call that rejects later is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => {
      unhandled.push(e);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const ac = new AbortController();
      let rejectLate: (e: Error) => void = () => undefined;
      const call = (): Promise<string> =>
        new Promise<string>((_resolve, reject) => {
          rejectLate = reject;
        });
      const waiting = untilAborted(call, ac.signal, abortError);
      ac.abort();
      await assert.rejects(waiting, /gave up/);
      rejectLate(new Error('GET aborted by caller'));
      await sleep(20);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('passes the result through when the signal never aborts', async () => {
    assert.equal(await untilAborted(() => Promise.resolve(7), new AbortController().signal, abortError), 7);
  });
});
