import { tokenHostName } from './addresses.ts';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { base32Decode } from './dns.ts';
import { defineKind } from './kind.ts';
import { pick } from './urls.ts';

/**
 * A PowerShell script that deploys a decoy directory tree on a Windows host and makes every
 * file open in it report through the DNS channel. Opens are seen by Windows itself: object
 * access auditing (a SACL on the tree, event 4663) and a scheduled task bound to that event,
 * which resolves `<base32 user|domain|computer|path>.x<nonce>.fs.<id>.<zone>`. No agent, no
 * driver: auditpol, Set-Acl and Task Scheduler, all in Windows PowerShell 5.1.
 */

const TREES: Record<string, string[]> = {
  Finance: ['Budget\\Budget_FY2025_final.xlsx', 'Budget\\Forecast_Q3.xlsx', 'Payroll\\Salaries_2025.xlsx', 'Payroll\\Bonus_plan.docx', 'Banking\\Wire_templates.xlsx', 'Banking\\Signatories.pdf'],
  IT: ['Passwords\\service_accounts.kdbx', 'Passwords\\local_admin.txt', 'Network\\Firewall_rules.xlsx', 'Network\\VPN_config.ovpn', 'Backup\\Restore_runbook.docx', 'Backup\\veeam_credentials.txt'],
  HR: ['Personnel\\Contracts_2025.zip', 'Personnel\\Terminations.xlsx', 'Reviews\\Performance_H1.docx', 'Reviews\\Compensation_bands.xlsx', 'Recruiting\\Offers.xlsx'],
  Legal: ['Contracts\\NDA_template.docx', 'Contracts\\Supplier_master.pdf', 'Litigation\\Case_notes.docx', 'MandA\\Project_Falcon_term_sheet.pdf'],
};

const params = z.object({
  root: z
    .string()
    .trim()
    .regex(/^[A-Za-z]:\\(?:[^\\/:*?"<>|\u0000-\u001f']{1,64}\\?){1,6}$/, 'must be an absolute Windows folder path such as D:\\Shares\\Finance (no quotes)')
    .optional()
    .describe('Folder the decoy tree is created in (default: C:\\Shares\\<theme>)'),
  theme: z.enum(Object.keys(TREES) as [string, ...string[]]).optional().describe('What the files look like (default: one at random)'),
});

type FakeFsParams = z.infer<typeof params>;

/** PowerShell single-quoted string literal. */
const psq = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Bytes of payload that fit in a name under `host` (253 characters, 60-character base32 labels, nonce and marker labels). */
export function payloadBudget(host: string): number {
  const room = 253 - host.length - '.x0000.fs.'.length;
  const chars = Math.floor((room * 60) / 61);
  return Math.max(0, Math.floor((chars * 5) / 8));
}

export function deployScript(host: string, root: string, files: string[]): string {
  const task = `${pick(['Microsoft', 'Windows'])} ${pick(['Storage', 'File History', 'Offline Files'])} ${pick(['Sync', 'Maintenance', 'Indexer'])}`;
  const list = files.map((f) => `  ${psq(f)}`).join(',\n');
  return `#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Creates the shared folder structure and its file-access audit settings.
#>
[CmdletBinding()]
param(
  [string]$Root = ${psq(root)},
  [string]$TaskName = ${psq(task)}
)
$ErrorActionPreference = 'Stop'

$Files = @(
${list}
)

# 1. The folder tree, with files of plausible sizes and dates.
foreach ($rel in $Files) {
  $path = Join-Path $Root $rel
  $dir = Split-Path $path -Parent
  if (-not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
  if (-not (Test-Path -LiteralPath $path)) {
    $bytes = New-Object byte[] (Get-Random -Minimum 18000 -Maximum 420000)
    (New-Object System.Random).NextBytes($bytes)
    [System.IO.File]::WriteAllBytes($path, $bytes)
    $when = (Get-Date).AddDays(-(Get-Random -Minimum 20 -Maximum 700))
    (Get-Item -LiteralPath $path).LastWriteTime = $when
    (Get-Item -LiteralPath $path).CreationTime = $when.AddDays(-(Get-Random -Minimum 1 -Maximum 60))
  }
}

# 2. Audit successful reads of the tree (event 4663 in the Security log).
auditpol.exe /set /subcategory:"{0CCE921D-69AE-11D9-BED3-505054503030}" /success:enable | Out-Null
$acl = Get-Acl -LiteralPath $Root -Audit
$rule = New-Object System.Security.AccessControl.FileSystemAuditRule('Everyone', 'ReadData', 'ContainerInherit,ObjectInherit', 'None', 'Success')
$acl.AddAuditRule($rule)
Set-Acl -LiteralPath $Root -AclObject $acl

# 3. The handler the task runs for each audited open: report user, domain, computer and path by a name lookup.
$handlerDir = Join-Path $env:ProgramData 'Microsoft\\Windows\\StorageSync'
New-Item -ItemType Directory -Path $handlerDir -Force | Out-Null
$handler = Join-Path $handlerDir 'sync.ps1'
$handlerText = @'
param([string]$User, [string]$Domain, [string]$Path)
if ($Path -match '\\\\desktop\\.ini$|\\\\thumbs\\.db$') { exit 0 }
$max = ${payloadBudget(host)}
$text = "$User|$Domain|$env:COMPUTERNAME|"
$enc = [System.Text.Encoding]::UTF8
$room = $max - $enc.GetByteCount($text)
if ($room -lt 0) { $room = 0 }
$p = $Path
while ($p.Length -gt 0 -and $enc.GetByteCount($p) -gt $room) { $p = $p.Substring(1) }
$data = $enc.GetBytes($text + $p)
$alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
$b32 = New-Object System.Text.StringBuilder
$buffer = 0; $bits = 0
foreach ($b in $data) {
  $buffer = ($buffer -shl 8) -bor $b; $bits += 8
  while ($bits -ge 5) { $bits -= 5; [void]$b32.Append($alphabet[($buffer -shr $bits) -band 31]) }
  $buffer = $buffer -band 255
}
if ($bits -gt 0) { [void]$b32.Append($alphabet[($buffer -shl (5 - $bits)) -band 31]) }
$s = $b32.ToString()
$labels = for ($i = 0; $i -lt $s.Length; $i += 60) { $s.Substring($i, [Math]::Min(60, $s.Length - $i)) }
$nonce = '{0:x4}' -f (Get-Random -Maximum 65536)
$name = (@($labels) + @("x$nonce", 'fs', '${host}')) -join '.'
try { [System.Net.Dns]::GetHostAddresses($name) | Out-Null } catch { }
'@
Set-Content -LiteralPath $handler -Value $handlerText -Encoding UTF8

# 4. A task started by event 4663 for the tree, handing the event's user, domain and path to the handler.
$taskXml = @"
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <EventTrigger>
      <Enabled>true</Enabled>
      <Subscription>&lt;QueryList&gt;&lt;Query Id="0" Path="Security"&gt;&lt;Select Path="Security"&gt;*[System[(EventID=4663)]] and *[EventData[Data[@Name='ObjectType']='File']]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>
      <ValueQueries>
        <Value name="User">Event/EventData/Data[@Name='SubjectUserName']</Value>
        <Value name="Domain">Event/EventData/Data[@Name='SubjectDomainName']</Value>
        <Value name="Path">Event/EventData/Data[@Name='ObjectName']</Value>
      </ValueQueries>
    </EventTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author"><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>Queue</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT1M</ExecutionTimeLimit>
    <Hidden>true</Hidden>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>powershell.exe</Command>
      <Arguments>-NoProfile -NonInteractive -WindowStyle Hidden -ExecutionPolicy Bypass -File "$handler" -User "\`$(User)" -Domain "\`$(Domain)" -Path "\`$(Path)"</Arguments>
    </Exec>
  </Actions>
</Task>
"@
Register-ScheduledTask -TaskName $TaskName -Xml $taskXml -Force | Out-Null
Write-Host "Folder structure ready under $Root ($($Files.Count) files)."
`;
}

/** The removal counterpart: the task, the handler and the audit rule (the files stay unless -DeleteFiles). */
export function removeScript(root: string): string {
  return `#Requires -RunAsAdministrator
param([string]$Root = ${psq(root)}, [Parameter(Mandatory = $true)][string]$TaskName, [switch]$DeleteFiles)
Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false -ErrorAction SilentlyContinue
Remove-Item -LiteralPath (Join-Path $env:ProgramData 'Microsoft\\Windows\\StorageSync\\sync.ps1') -Force -ErrorAction SilentlyContinue
$acl = Get-Acl -LiteralPath $Root -Audit
foreach ($r in @($acl.GetAuditRules($true, $false, [System.Security.Principal.NTAccount]))) { if ($r.IdentityReference.Value -eq 'Everyone') { [void]$acl.RemoveAuditRule($r) } }
Set-Acl -LiteralPath $Root -AclObject $acl
if ($DeleteFiles) { Remove-Item -LiteralPath $Root -Recurse -Force }
`;
}

/** Decode `<base32 chunks>.x<nonce>.fs` (labels left of the id). */
export function decodeFsLabels(raw: readonly string[]): { user: string | null; domain: string | null; computer: string | null; path: string | null } | null {
  const labels = raw.map((l) => l.toLowerCase());
  if (labels.length < 3 || labels.length > 8 || labels[labels.length - 1] !== 'fs' || !/^x[0-9a-f]{4}$/.test(labels[labels.length - 2] ?? '')) return null;
  const bytes = base32Decode(labels.slice(0, -2).join(''));
  if (!bytes) return null;
  const [user = '', domain = '', computer = '', ...rest] = bytes.toString('utf8').split('|');
  return { user: user || null, domain: domain || null, computer: computer || null, path: rest.join('|') || null };
}

/** A PowerShell deployment of a decoy folder tree on Windows whose file opens report user, computer and path over DNS. */
export const windowsFakeFs = defineKind<FakeFsParams>({
  id: 'windows-fake-fs',
  label: 'Windows decoy folder tree',
  description: 'A PowerShell script that creates a decoy folder tree on a Windows host; opening any file in it makes Windows report the user, computer and path by a name lookup.',
  channels: ['dns'],
  techniques: ['T1083', 'T1005', 'T1039'],
  params,
  example: { root: 'D:\\Shares\\Finance', theme: 'Finance' },
  create(_ctx, _id, p) {
    const theme = p.theme ?? pick(Object.keys(TREES));
    return { params: { theme, root: p.root ?? `C:\\Shares\\${theme}` } };
  },
  formats: ['deploy', 'remove'],
  artifact(ctx, token) {
    return {
      hostname: tokenHostName(ctx.config.DNS_ZONE, token),
      filename: 'Setup-SharedFolders.ps1',
      contentType: 'text/plain; charset=utf-8',
      hint: `Run it as Administrator in Windows PowerShell 5.1 on Windows 10/11 or Server 2016+ (it enables "Audit File System", puts an audit rule on ${token.params.root ?? 'the folder'} and registers a hidden task). The host must resolve names through a resolver that reaches the DNS zone. Antivirus scans and backups open files too.`,
    };
  },
  render(ctx, token, format) {
    const root = token.params.root ?? 'C:\\Shares\\Finance';
    if (format === 'remove') return { filename: 'Remove-SharedFolders.ps1', contentType: 'text/plain; charset=utf-8', body: Buffer.from(removeScript(root).replace(/\n/g, '\r\n')) };
    const files = [...(TREES[token.params.theme ?? 'Finance'] ?? [])].filter(() => randomInt(5) > 0);
    const body = deployScript(tokenHostName(ctx.config.DNS_ZONE, token), root, files.length > 0 ? files : (TREES.Finance ?? []));
    // Windows PowerShell 5.1 reads a BOM-less script as the ANSI code page: write UTF-8 with a BOM and CRLF.
    return { filename: 'Setup-SharedFolders.ps1', contentType: 'text/plain; charset=utf-8', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body.replace(/\n/g, '\r\n'))]) };
  },
  explain(hit, token) {
    const path = typeof hit.details?.path === 'string' ? hit.details.path.slice(0, 200) : `a file under ${token.params.root ?? 'the decoy tree'}`;
    const who = hit.actorUser ? ` as ${hit.actorDomain ? `${hit.actorDomain}\\` : ''}${hit.actorUser}` : '';
    const where = hit.actorHost ? ` on ${hit.actorHost}` : '';
    return { action: `opened ${path}${who}${where} (names reported by the lookup)`, evidence: 'touch', techniques: ['T1083', 'T1005'] };
  },
  dns: {
    describe(query) {
      const d = decodeFsLabels(query.rawDataLabels);
      if (!d) return { classification: 'noise', details: { reason: 'lookup without file-open data' } };
      return { actor: { user: d.user, host: d.computer, domain: d.domain }, details: { path: d.path } };
    },
  },
});
