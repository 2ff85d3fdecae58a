import { unzipSync } from 'fflate';

/**
 * What Windows Explorer looks up when it draws a decoy folder: the host of the UNC path in the
 * zip's desktop.ini `IconResource`, with the environment variables expanded as Windows expands
 * them. Tests use it to send the very name Explorer would, whatever layout the token drew.
 */
export function explorerLookup(zip: Uint8Array, env: { USERNAME: string; COMPUTERNAME: string; USERDOMAIN: string }): string {
  const ini = Object.entries(unzipSync(zip)).find(([name]) => name.toLowerCase().endsWith('/desktop.ini'))?.[1];
  if (!ini) throw new Error('no desktop.ini in the zip');
  const text = Buffer.from(ini).subarray(2).toString('utf16le');
  const unc = /^IconResource=\\\\([^\\\r\n]+)\\/m.exec(text)?.[1];
  if (!unc) throw new Error(`no UNC IconResource in desktop.ini: ${text}`);
  return unc.replace(/%(USERNAME|COMPUTERNAME|USERDOMAIN)%/g, (_, v: keyof typeof env) => env[v]);
}
