import { readFile } from 'node:fs/promises';
import { errorMessage } from '../knowledge/error-text.js';

/** A user-supplied file's text, or a one-line message naming the path and why it cannot be read. */
export type InputFile = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly message: string };

/** Reads a config, playbook or scenario file as UTF-8; `what` names the kind in the message. */
export async function readInputFile(path: string, what: string): Promise<InputFile> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (e) {
    return { ok: false, message: `${path}: cannot read ${what} file: ${errorMessage(e)}` };
  }
}
