import { Command, CommanderError } from 'commander';
import type { KnowledgeLocation } from './audit.command.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_USAGE } from './exit-codes.js';

// Each command's implementation (and everything it needs: config parsing, playbooks, the
// simulator) is imported when the command runs, so `--help` and a mistyped flag load only
// commander and this file (docs/performance.md, bench:cli).

interface LocationFlags {
  readonly config?: string;
  readonly redisUrl?: string;
  readonly prefix?: string;
}

function pickLocation(f: LocationFlags): LocationFlags {
  return {
    ...(f.config === undefined ? {} : { config: f.config }),
    ...(f.redisUrl === undefined ? {} : { redisUrl: f.redisUrl }),
    ...(f.prefix === undefined ? {} : { prefix: f.prefix }),
  };
}

async function resolveLocation(flags: LocationFlags): Promise<KnowledgeLocation> {
  const { loadConfig } = await import('../runtime/config.js');
  const config = flags.config === undefined ? undefined : await loadConfig(flags.config);
  const redisUrl = flags.redisUrl ?? process.env['REDIS_URL'] ?? config?.redis.url;
  if (redisUrl === undefined) throw new CliError('no Redis to read: pass --redis-url, set REDIS_URL, or --config with redis.url');
  return { redisUrl, prefix: flags.prefix ?? config?.redis.keyPrefix ?? 'spire-healer' };
}

/**
 * Builds the CLI. Each action stores its exit code; errors are printed as one line and mapped
 * to exit codes (2 for bad input, 1 for a bad outcome).
 */
export function buildProgram(c: Composition, out: (line: string) => void, setExit: (code: number) => void): Command {
  const program = new Command('spire-healer')
    .description('Self-healing for SPIFFE/SPIRE + Envoy mTLS fleets')
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (s) => {
        out(s.trimEnd());
      },
      writeErr: (s) => {
        process.stderr.write(s);
      },
    });

  program
    .command('run')
    .description('run the daemon (serves /metrics and /healthz)')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action(async (o: { config: string }) => {
      const { runCommand } = await import('./run.command.js');
      setExit(await runCommand(c, o.config));
    });

  program
    .command('demo')
    .description('simulated fleet with a stuck Envoy: watch spire-healer detect, restart and verify')
    .option('--report <file>', 'write the JSON report here')
    .action(async (o: { report?: string }) => {
      const { DEMO_SCENARIO_PATH, simulateCommand } = await import('./simulate.command.js');
      out('spire-healer demo: a simulated fleet where one Envoy keeps serving an SVID that should have rotated.\n');
      setExit(await simulateCommand(c, { scenarioPath: DEMO_SCENARIO_PATH, reportPath: o.report, quiet: false, json: false }, out));
    });

  program
    .command('simulate')
    .description('run a scenario file against the simulated fleet')
    .requiredOption('-s, --scenario <file>', 'scenario file (YAML, see docs/scenarios.md)')
    .option('--report <file>', 'write the JSON report here')
    .option('--prefix <prefix>', 'Redis key prefix for this run (default sim-<scenario name>)')
    .option('--json', 'print the report as JSON instead of the timeline', false)
    .option('-q, --quiet', 'print nothing; use the exit code and --report', false)
    .action(async (o: { scenario: string; report?: string; prefix?: string; json: boolean; quiet: boolean }) => {
      const { simulateCommand } = await import('./simulate.command.js');
      setExit(
        await simulateCommand(
          c,
          { scenarioPath: o.scenario, reportPath: o.report, prefix: o.prefix, quiet: o.quiet || o.json, json: o.json },
          out,
        ),
      );
    });

  const locationOptions = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'config file to take redis.url and redis.keyPrefix from')
      .option('--redis-url <url>', 'Redis URL (default: REDIS_URL, then the config)')
      .option('--prefix <prefix>', 'key prefix (default: the config, then spire-healer)');

  // `audit` and `audit verify` both take the location flags; positional options keep each
  // command's flags its own, and verify also honours flags given before the word "verify".
  const audit = locationOptions(program.command('audit').description('print the audit log (what it did, and why)'))
    .enablePositionalOptions()
    .option('--json', 'one JSON object per line', false)
    .option('--since <time>', 'ISO-8601 time or a duration back from now (15m, 2h)')
    .option('--incident <id>', 'only entries of this incident')
    .action(async (o: LocationFlags & { json: boolean; since?: string; incident?: string }) => {
      const { auditListCommand } = await import('./audit.command.js');
      setExit(await auditListCommand(c, await resolveLocation(o), { json: o.json, since: o.since, incident: o.incident }, out));
    });
  locationOptions(audit.command('verify').description('check the hash chain; exit 1 naming the first changed or deleted entry')).action(
    async (o: LocationFlags) => {
      const parent = audit.opts<LocationFlags>();
      const flags: LocationFlags = { ...pickLocation(parent), ...pickLocation(o) };
      const { auditVerifyCommand } = await import('./audit.command.js');
      setExit(await auditVerifyCommand(c, await resolveLocation(flags), out));
    },
  );

  locationOptions(
    program
      .command('explain')
      .description('explain an incident: finding, evidence, what it explains, what was done')
      .argument('<incident>', 'incident id (or a unique prefix), or "<type> <subject>" for the latest on that subject')
      .option('--json', 'print it as JSON', false),
  ).action(async (ref: string, o: LocationFlags & { json: boolean }) => {
    const { explainCommand } = await import('./explain.command.js');
    setExit(await explainCommand(c, await resolveLocation(o), ref, { json: o.json }, out));
  });

  locationOptions(
    program
      .command('pause')
      .description('kill switch: stop all remediation (queued jobs end skipped)')
      .requiredOption('-r, --reason <text>', 'why; recorded in the audit log'),
  ).action(async (o: LocationFlags & { reason: string }) => {
    const { setPausedCommand } = await import('./control.command.js');
    setExit(await setPausedCommand(c, await resolveLocation(o), true, o.reason, out));
  });
  locationOptions(
    program.command('resume').description('lift the kill switch').option('-r, --reason <text>', 'why; recorded in the audit log'),
  ).action(async (o: LocationFlags & { reason?: string }) => {
    const { setPausedCommand } = await import('./control.command.js');
    setExit(await setPausedCommand(c, await resolveLocation(o), false, o.reason, out));
  });
  locationOptions(
    program
      .command('status')
      .description('kill switch and open incidents with their remediation phase')
      .option('--json', 'print it as JSON', false),
  ).action(async (o: LocationFlags & { json: boolean }) => {
    const { statusCommand } = await import('./control.command.js');
    setExit(await statusCommand(c, await resolveLocation(o), { json: o.json }, out));
  });
  locationOptions(
    program
      .command('plan')
      .description('what remediation would do now for each open incident, and what holds it back')
      .option('--dry-run', 'decide without acting (required)', false)
      .option('--json', 'print it as JSON', false),
  ).action(async (o: LocationFlags & { dryRun: boolean; json: boolean }) => {
    const { planDryRunCommand } = await import('./plan.command.js');
    setExit(await planDryRunCommand(c, await resolveLocation(o), { config: o.config, dryRun: o.dryRun, json: o.json }, out));
  });
  locationOptions(
    program
      .command('approve')
      .description('approve the plan step an incident waits on (playbooks in approve mode)')
      .argument('<incident>', 'incident id (see status)')
      .option('--plan <hash>', 'approve only if the pending plan still has this hash')
      .option(
        '--ttl <duration>',
        "how long the approval stays valid (default: the playbook's guardrails.approvalTtl, from --config's playbooks)",
      )
      .option('--by <name>', 'who approves (default: $USER)'),
  ).action(async (id: string, o: LocationFlags & { plan?: string; ttl?: string; by?: string }) => {
    const { approveCommand } = await import('./approve.command.js');
    setExit(await approveCommand(c, await resolveLocation(o), id, { plan: o.plan, ttl: o.ttl, by: o.by, config: o.config }, out));
  });
  program
    .command('validate')
    .description('check playbook, scenario and config files; every problem as file:line:column; exit 2 on any')
    .argument('<files...>', 'files to check')
    .action(async (files: string[]) => {
      const { validateCommand } = await import('./validate.command.js');
      setExit(
        await validateCommand(files, out, (l) => {
          process.stderr.write(`${l}\n`);
        }),
      );
    });

  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function runCli(
  argv: readonly string[],
  c: Composition,
  out: (line: string) => void = (l) => {
    process.stdout.write(`${l}\n`);
  },
): Promise<number> {
  let code = 0;
  const program = buildProgram(c, out, (n) => {
    code = n;
  });
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    if (e instanceof CliError) {
      process.stderr.write(`spire-healer: ${e.message}\n`);
      return e.exitCode;
    }
    const { ConfigError } = await import('../runtime/config.js');
    if (e instanceof ConfigError) {
      process.stderr.write(`spire-healer: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const { errorMessage } = await import('../knowledge/error-text.js');
    process.stderr.write(`spire-healer: ${errorMessage(e)}\n`);
    return 1;
  }
}
