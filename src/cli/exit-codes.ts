/** Success. */
export const EXIT_OK = 0;
/** The command ran but the outcome is bad: not healed, audit chain broken. */
export const EXIT_FAILED = 1;
/** Bad input: config, scenario or playbook file invalid, bad flags, missing dependency. */
export const EXIT_USAGE = 2;

/** An error that ends the command with a given exit code and a one-line message. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_USAGE,
  ) {
    super(message);
  }
}
