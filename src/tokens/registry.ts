import { z } from 'zod';
import { excel } from './excel.ts';
import type { TokenKind } from './kind.ts';
import { qr } from './qr.ts';
import { apiKey } from './api-key.ts';
import { awsKeys } from './aws-keys.ts';
import { credentials } from './credentials.ts';
import { email } from './email.ts';
import { gitCredentials } from './git-credentials.ts';
import { kubeconfig } from './kubeconfig.ts';
import { mcpServer } from './mcp-server.ts';
import { postgresCredentials } from './postgres-credentials.ts';
import { mysqlCredentials } from './mysql-credentials.ts';
import { webdavShare } from './webdav-share.ts';
import { redirect } from './redirect.ts';
import { sshKey } from './ssh-key.ts';
import { dnsToken } from './dns.ts';
import { windowsFolder } from './windows-folder.ts';
import { sensitiveCommand } from './sensitive-command.ts';
import { pdfToken } from './pdf.ts';
import { mysqlDump } from './mysql-dump.ts';
import { webBug } from './web-bug.ts';
import { word } from './word.ts';
import { ownDocument } from './own-document.ts';
import { svgToken } from './svg.ts';
import { logInjection } from './log-injection.ts';
import { sqlServer } from './sql-server.ts';
import { windowsFakeFs } from './windows-fake-fs.ts';
import { slowRedirect } from './slow-redirect.ts';
import { customImage } from './custom-image.ts';
import { clonedSite } from './cloned-site.ts';

/** Every token kind, one line each. Order is the order the UI and `GET /kinds` list them in. */
export const KINDS: readonly TokenKind[] = [
  webBug,
  redirect,
  word,
  excel,
  qr,
  dnsToken,
  windowsFolder,
  sensitiveCommand,
  pdfToken,
  ownDocument,
  mysqlDump,
  credentials,
  awsKeys,
  apiKey,
  kubeconfig,
  mcpServer,
  sshKey,
  gitCredentials,
  postgresCredentials,
  mysqlCredentials,
  webdavShare,
  email,
  svgToken,
  logInjection,
  sqlServer,
  windowsFakeFs,
  slowRedirect,
  customImage,
  clonedSite,
];

const byId: ReadonlyMap<string, TokenKind> = new Map(KINDS.map((k) => [k.id, k]));

export function findKind(id: string): TokenKind | undefined {
  return byId.get(id);
}

export function kindIds(): string[] {
  return KINDS.map((k) => k.id);
}

/** Kinds that can recognise a request carrying no token id (credential kinds). */
export function httpLookupKinds(): TokenKind[] {
  return KINDS.filter((k) => k.http?.lookupKey !== undefined);
}

/** Kinds whose secrets log in over SSH (the SSH listener asks each for a lookup key). */
export function sshLookupKinds(): TokenKind[] {
  return KINDS.filter((k) => k.ssh !== undefined);
}

/** The kind's params as JSON Schema, for API clients and the admin form. */
export function paramsJsonSchema(kind: TokenKind): unknown {
  const schema = z.toJSONSchema(kind.params, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown>; required?: string[] };
  for (const key of kind.internalParams ?? []) {
    delete schema.properties?.[key];
    if (schema.required) schema.required = schema.required.filter((r) => r !== key);
  }
  return schema;
}
