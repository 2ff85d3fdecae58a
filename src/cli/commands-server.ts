import { loadConfig } from '../config.ts';
import { ROLES, roleSwitches } from '../serve.ts';
import { str, UsageError, type Command } from './command.ts';

const roleList = Object.keys(ROLES).join(',');

/** Start a server process with the environment's configuration, optionally limited to some roles. */
async function serveWith(only: string | undefined): Promise<number> {
  let switches: Record<string, string> = {};
  try {
    if (only !== undefined) switches = roleSwitches(only);
  } catch (e) {
    throw new UsageError(`--only: ${(e as Error).message}`);
  }
  const config = loadConfig({ ...process.env, ...switches });
  const { serve } = await import('../serve.ts');
  await serve(config, only ? `honeytrail serve --only ${only}` : 'honeytrail serve');
  // Runs until SIGTERM/SIGINT, which exit the process.
  return new Promise<number>(() => undefined);
}

/** Running Honeytrail itself: all roles in one process, or some of them per machine. */
export const serverCommands: Record<string, Command> = {
  serve: {
    summary: 'run the server (listeners and alert worker), or only some roles of it',
    usage: `honeytrail serve [--only ROLE,...]   roles: ${roleList} (default: every role the environment enables)\n\n` +
      '  e.g. --only public,dns on edge nodes, --only admin for the security team, --only worker for alert delivery.\n' +
      '  Configuration comes from the environment and .env, as for npm start; --only sets the *_ENABLED switches.',
    options: { only: { type: 'string' } },
    run: ({ values }) => serveWith(str(values.only)),
  },
  worker: {
    summary: 'run only the alert worker (same as serve --only worker)',
    usage: 'honeytrail worker',
    options: {},
    run: () => serveWith('worker'),
  },
};
