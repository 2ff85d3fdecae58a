import { z } from 'zod';
import { tokenHostName } from './addresses.ts';
import { defineKind, type Token } from './kind.ts';

/**
 * Discovery commands on Windows hosts (issue 17, part 3). Windows can start a program whenever
 * a chosen executable exits ("silent process exit" monitoring: the image's GlobalFlag gets
 * FLG_MONITOR_SILENT_PROCESS_EXIT, and SilentProcessExit\<image> names a MonitorProcess with
 * ReportingMode 1). The monitor here is `cmd.exe /c nslookup <name>`, where cmd expands the
 * user and computer into the name; the lookup reaches the DNS listener and the hit names who
 * ran which discovery tool where, with the ATT&CK technique the tool serves.
 */

/** Discovery and credential tools intruders run on a host they land on, with the technique each serves. */
export const COMMAND_TECHNIQUES: Readonly<Record<string, readonly string[]>> = {
  'whoami.exe': ['T1033'],
  'quser.exe': ['T1033'],
  'query.exe': ['T1033'],
  'net.exe': ['T1087', 'T1069', 'T1135'],
  'net1.exe': ['T1087', 'T1069', 'T1135'],
  'nltest.exe': ['T1482'],
  'klist.exe': ['T1558'],
  'adfind.exe': ['T1087.002', 'T1482'],
  'dsquery.exe': ['T1087.002'],
  'systeminfo.exe': ['T1082'],
  'ipconfig.exe': ['T1016'],
  'arp.exe': ['T1016'],
  'route.exe': ['T1016'],
  'netstat.exe': ['T1049'],
  'tasklist.exe': ['T1057'],
  'wmic.exe': ['T1047'],
  'vssadmin.exe': ['T1490'],
  'cmdkey.exe': ['T1555.004'],
  'reg.exe': ['T1012'],
  'schtasks.exe': ['T1053.005'],
};
export const DEFAULT_COMMANDS = ['whoami.exe', 'net.exe', 'net1.exe', 'nltest.exe', 'klist.exe', 'quser.exe', 'adfind.exe'] as const;
/** The monitor itself resolves with nslookup; monitoring it would loop. */
const NEVER = new Set(['nslookup.exe', 'cmd.exe', 'conhost.exe', 'werfault.exe']);

const exeName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_-]{0,40}\.exe$/, 'must be an executable file name such as whoami.exe')
  .refine((v) => !NEVER.has(v), 'cannot be monitored (the monitor runs it)');

const params = z.object({
  commands: z
    .array(exeName)
    .min(1, 'name at least one executable')
    .max(30, 'at most 30 executables')
    .optional()
    .describe('Executables whose every run fires the token (default: whoami, net, net1, nltest, klist, quser, adfind)'),
});
type CommandParams = z.infer<typeof params>;

const ROOTS = ['HKEY_LOCAL_MACHINE\\SOFTWARE', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node'] as const;
const IFEO = 'Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options';
const SPE = 'Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit';
/** FLG_MONITOR_SILENT_PROCESS_EXIT. */
const MONITOR_FLAG = 0x200;

function commandsOf(t: Pick<Token<CommandParams>, 'params'>): string[] {
  return [...new Set(t.params.commands ?? DEFAULT_COMMANDS)];
}

/** The DNS label naming an executable: its base name (`whoami.exe` → `whoami`). */
export function commandLabel(exe: string): string {
  return exe.replace(/\.exe$/i, '').toLowerCase().replace(/_/g, '-');
}

/** The name the monitor resolves, as cmd.exe sees it before expansion (spaces in the user name become hyphens). */
export function monitorName(exe: string, id: string, zone: string): string {
  return `%USERNAME: =-%.%COMPUTERNAME%.${commandLabel(exe)}.${id}.${zone}`;
}

/** The MonitorProcess command line for one executable. */
export function monitorCommand(exe: string, id: string, zone: string): string {
  return `cmd.exe /c nslookup -timeout=3 -retry=1 ${monitorName(exe, id, zone)} >NUL 2>&1`;
}

/** A string value as regedit writes it: backslash and quote escaped. */
const regString = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const dword = (n: number) => `dword:${n.toString(16).padStart(8, '0')}`;

/** A .reg file as regedit exports it: UTF-16LE with a byte-order mark, CRLF line ends, a blank line after each key. */
function regFile(lines: readonly string[]): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${['Windows Registry Editor Version 5.00', '', ...lines].join('\r\n')}\r\n`, 'utf16le')]);
}

/** Install: GlobalFlag on the image and the SilentProcessExit monitor, for 64- and 32-bit images. */
export function installReg(commands: readonly string[], id: string, zone: string): Buffer {
  const lines: string[] = [];
  for (const root of ROOTS) {
    for (const exe of commands) {
      lines.push(`[${root}\\${IFEO}\\${exe}]`, `"GlobalFlag"=${dword(MONITOR_FLAG)}`, '');
      lines.push(`[${root}\\${SPE}\\${exe}]`, `"ReportingMode"=${dword(1)}`, `"MonitorProcess"=${regString(monitorCommand(exe, id, zone))}`, '');
    }
  }
  return regFile(lines);
}

/** Removal: the monitor keys go, and the GlobalFlag value (the image's other settings stay). */
export function removeReg(commands: readonly string[]): Buffer {
  const lines: string[] = [];
  for (const root of ROOTS) {
    for (const exe of commands) {
      lines.push(`[${root}\\${IFEO}\\${exe}]`, '"GlobalFlag"=-', '');
      lines.push(`[-${root}\\${SPE}\\${exe}]`, '');
    }
  }
  return regFile(lines);
}

/** The same as a PowerShell script that keeps any other GlobalFlag bits, with -Remove to undo. */
export function installPs1(commands: readonly string[], id: string, zone: string): Buffer {
  const list = commands.map((c) => `'${c}'`).join(', ');
  const lines = [
    '#Requires -RunAsAdministrator',
    '<#',
    '  Registers a silent-process-exit monitor for the listed executables (run as administrator, or deploy',
    '  by Group Policy as a computer startup script). Run with -Remove to undo.',
    '#>',
    'param([switch]$Remove)',
    `$commands = @(${list})`,
    `$zone = '${id}.${zone}'`,
    "foreach ($root in 'HKLM:\\SOFTWARE', 'HKLM:\\SOFTWARE\\WOW6432Node') {",
    '  foreach ($exe in $commands) {',
    `    $ifeo = Join-Path $root ('${IFEO}\\' + $exe)`,
    `    $spe = Join-Path $root ('${SPE}\\' + $exe)`,
    '    if ($Remove) {',
    '      if (Test-Path $ifeo) { Remove-ItemProperty -Path $ifeo -Name GlobalFlag -ErrorAction SilentlyContinue }',
    '      if (Test-Path $spe) { Remove-Item -Path $spe -Recurse -Force }',
    '      continue',
    '    }',
    '    if (-not (Test-Path $ifeo)) { New-Item -Path $ifeo -Force | Out-Null }',
    '    $flag = (Get-ItemProperty -Path $ifeo -Name GlobalFlag -ErrorAction SilentlyContinue).GlobalFlag',
    `    Set-ItemProperty -Path $ifeo -Name GlobalFlag -Type DWord -Value ([int]$flag -bor 0x${MONITOR_FLAG.toString(16)})`,
    '    if (-not (Test-Path $spe)) { New-Item -Path $spe -Force | Out-Null }',
    '    Set-ItemProperty -Path $spe -Name ReportingMode -Type DWord -Value 1',
    "    $label = [IO.Path]::GetFileNameWithoutExtension($exe).ToLowerInvariant().Replace('_', '-')",
    "    Set-ItemProperty -Path $spe -Name MonitorProcess -Type String -Value ('cmd.exe /c nslookup -timeout=3 -retry=1 %USERNAME: =-%.%COMPUTERNAME%.' + $label + '.' + $zone + ' >NUL 2>&1')",
    '  }',
    '}',
  ];
  return Buffer.from(`\ufeff${lines.join('\r\n')}\r\n`, 'utf8');
}

/**
 * Decode `user.computer.command` (labels left of the token id). A user name may hold dots, so
 * command and computer are taken from the right. Unexpanded `%…%` or an executable the token
 * does not monitor is not the monitor running: noise.
 */
export function decodeCommandLabels(raw: readonly string[], commands: readonly string[]): { user: string | null; host: string | null; exe: string } | null {
  if (raw.length < 3) return null;
  const label = (raw[raw.length - 1] ?? '').toLowerCase();
  const exe = commands.find((c) => commandLabel(c) === label);
  if (!exe) return null;
  const host = raw[raw.length - 2] ?? '';
  const user = raw.slice(0, -2).join('.');
  if (/%/.test(host) || /%/.test(user)) return null;
  return { user: user || null, host: host || null, exe };
}

export const sensitiveCommand = defineKind<CommandParams>({
  id: 'sensitive-command',
  label: 'Sensitive command (Windows)',
  description:
    'A .reg file (or PowerShell script) that makes Windows look up a name each time a discovery tool such as whoami, net or nltest exits on the host: the hit names the user, the computer and the tool.',
  channels: ['dns'],
  techniques: ['T1033', 'T1087', 'T1482', 'T1558'],
  params,
  example: { commands: ['whoami.exe', 'nltest.exe'] },
  formats: ['ps1', 'remove'],
  create(_ctx, _id, p) {
    return { params: { commands: [...new Set(p.commands ?? DEFAULT_COMMANDS)] } };
  },
  artifact(ctx, token) {
    return {
      hostname: tokenHostName(ctx.config.DNS_ZONE, token),
      filename: 'monitoring.reg',
      contentType: 'text/plain; charset=utf-16le',
      hint: `Import on the host as administrator (reg import monitoring.reg), or deploy the PowerShell variant as a GPO computer startup script; remove with the removal .reg or the script's -Remove. Watches: ${commandsOf(token).join(', ')}.`,
    };
  },
  render(ctx, token, format) {
    const commands = commandsOf(token);
    if (format === 'ps1') return { filename: 'monitoring.ps1', contentType: 'text/plain; charset=utf-8', body: installPs1(commands, token.hostLabel ?? token.id, ctx.config.DNS_ZONE) };
    if (format === 'remove') return { filename: 'monitoring-remove.reg', contentType: 'text/plain; charset=utf-16le', body: removeReg(commands) };
    return { filename: 'monitoring.reg', contentType: 'text/plain; charset=utf-16le', body: installReg(commands, token.hostLabel ?? token.id, ctx.config.DNS_ZONE) };
  },
  explain(hit, token) {
    const exe = typeof hit.details?.command === 'string' ? hit.details.command : null;
    const who = [hit.actorUser ? `${hit.actorUser}` : null, hit.actorHost ? `on ${hit.actorHost}` : null].filter(Boolean).join(' ');
    if (!exe) return { action: `the monitored-command name was resolved (${hit.qname ?? ''})`, evidence: 'touch', techniques: ['T1033'] };
    return {
      action: `${who || 'someone'} ran ${exe} (reported by the exit monitor of "${token.name}")`,
      evidence: 'touch',
      techniques: [...(COMMAND_TECHNIQUES[exe] ?? ['T1033'])],
    };
  },
  dns: {
    describe(query, token) {
      const decoded = decodeCommandLabels(query.rawDataLabels, commandsOf(token));
      if (!decoded) return { classification: 'noise', details: { reason: 'lookup without a monitored command' } };
      return { actor: { user: decoded.user, host: decoded.host }, details: { command: decoded.exe, commandRun: true } };
    },
  },
});
