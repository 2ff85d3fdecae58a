import { parseArgs } from 'node:util';
import { ConfigError, loadDotEnv } from '../env.ts';
import { ApiError } from './api-client.ts';
import { adminCommands } from './commands-admin.ts';
import { GLOBAL, err, out, UsageError, type Command } from './command.ts';
import { serverCommands } from './commands-server.ts';
import { tokenCommands } from './commands-tokens.ts';
import { PlanError } from './plan.ts';

/**
 * `honeytrail <command>`: plant tokens into folders and shares, watch hits, retire, export;
 * and run the server itself (`serve`, `serve --only ROLES`, `worker`).
 * Remote commands talk to a running server's JSON API (`--server`, `--api-key` or
 * HONEYTRAIL_SERVER / HONEYTRAIL_API_KEY); `api-key create` and `admin create` work on the
 * local database.
 */
const commands: Record<string, Command> = { ...tokenCommands, ...adminCommands, ...serverCommands };

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: honeytrail <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'global options: --server URL (HONEYTRAIL_SERVER, default http://127.0.0.1:3000)',
    '                --api-key KEY (HONEYTRAIL_API_KEY, else DATA_DIR/initial-api-key)',
    '                --json  machine-readable output     -h, --help',
    '',
    'run "honeytrail <command> --help" for a command\'s options.',
  ].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    err(`honeytrail: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    const parsed = parseArgs({ args: rest, options: { ...GLOBAL, ...command.options }, allowPositionals: true, strict: true });
    if (parsed.values.help) {
      out(`${command.summary}\n\nusage: ${command.usage}`);
      return 0;
    }
    return await command.run(parsed as Parameters<Command['run']>[0]);
  } catch (e) {
    if (e instanceof ApiError) {
      err(`honeytrail ${name}: ${e.message}${e.fields ? `\n${Object.entries(e.fields).map(([k, v]) => `  ${k}: ${v}`).join('\n')}` : ''}`);
      return 1;
    }
    if (e instanceof PlanError || e instanceof ConfigError) {
      err(`honeytrail ${name}: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      err(`honeytrail ${name}: ${e.message}\n\nusage: ${command.usage}`);
      return 2;
    }
    err(`honeytrail ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

loadDotEnv();
runCli(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    err(`honeytrail: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);

