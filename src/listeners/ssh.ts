import { bannerLine, type ListenerEntry } from './registry.ts';

/** The SSH listener for ssh-key tokens (channels/ssh.ts): a Debian-looking OpenSSH that refuses every login. */
export const sshListener = {
  name: 'ssh',
  configKeys: ['SSH_ENABLED', 'SSH_HOST', 'SSH_PORT', 'SSH_PUBLIC_HOST', 'SSH_PUBLIC_PORT', 'SSH_VERSION', 'SSH_MAX_CONNECTIONS', 'SSH_MAX_PER_SOURCE', 'SSH_LOGIN_GRACE'],
  role: 'edge',
  enabled: (c) => c.SSH_ENABLED,
  async start({ deps }) {
    const { startSshListener } = await import('../channels/ssh.ts');
    return startSshListener(deps);
  },
  banner: (c, a) => [bannerLine('SSH', `${a.host}:${a.port}, planted configs name ${c.SSH_PUBLIC_HOST}:${c.SSH_PUBLIC_PORT} (ssh-key tokens)`)],
} satisfies ListenerEntry;
