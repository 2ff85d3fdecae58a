import dgram from 'node:dgram';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { customAlphabet } from 'nanoid';
import dnsPacket from 'dns-packet';
import { audit, type AuditEntry } from '../db/queries/audit.ts';
import { finishDrillRun, insertDrillRun } from '../db/queries/drills.ts';
import { listAlerts } from '../db/queries/alerts.ts';
import { getIncident, setIncidentStatus } from '../db/queries/incidents.ts';
import { listHits } from '../db/queries/hits.ts';
import { applyTokenAction } from '../db/queries/tokens.ts';
import type { AlertRow, DrillRunRow, HitRow, IncidentRow, TokenRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { createToken, type Actor } from '../tokens/service.ts';
import { DRILL_TAG_PREFIX } from './tag.ts';
import { findScenario, SCENARIOS, type DrillScenario, type DrillStep } from './scenarios.ts';

/**
 * A purple-team drill (issue 20): plant a scenario's decoys, tagged `drill:<run>`, do what the
 * scenario's intruder does with them against the real listeners, and report which decoys
 * fired, how long recording and correlation took, which alerts went out and when, and whether
 * the correlation concluded what the scenario expects. The run's hits live in the run's own
 * namespace (src/drills/tag.ts): they open drill incidents, which alert with a `[DRILL]`
 * subject and are closed when the run ends; the decoys are retired. Nothing real is joined,
 * merged or made familiar by a drill.
 */

export const newRunId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 10);

export interface DrillOptions {
  scenario: string;
  /** Longest wait for alerts to go out, in ms (the decoys' own wait is bounded separately). */
  alertWaitMs?: number;
  actor: Actor;
}

export interface DrillStepReport {
  does: string;
  technique: string;
  decoy: { id: string; kind: string; name: string; location: string; plantedHost: string | null };
  action: string;
  /** `fired`: recorded and correlated; `missed`: nothing recorded in time; `skipped`: the channel is not served here. */
  outcome: 'fired' | 'missed' | 'skipped';
  note?: string;
  sentAt: string;
  /** Request sent → hit stored (the hit's own time). */
  recordedMs: number | null;
  /** Request sent → the hit seen on its incident. */
  correlatedMs: number | null;
  hitId: number | null;
  incidentId: number | null;
  /** What the stored hit says happened, in words. */
  channel: string | null;
}

export interface DrillAlertReport {
  alertId: number;
  incidentId: number | null;
  channel: string;
  target: string;
  kind: string;
  status: string;
  /** First drill request → this alert delivered. */
  sentAfterMs: number | null;
  error: string | null;
}

export interface DrillReport {
  run: string;
  scenario: { name: string; title: string; summary: string };
  status: 'passed' | 'failed';
  startedAt: string;
  finishedAt: string;
  steps: DrillStepReport[];
  incidents: { id: number; severity: string; lateral: boolean; techniques: string[]; summary: string | null; url: string }[];
  alerts: DrillAlertReport[];
  /** No alert channel is configured: nothing could go out (the decoys still fired). */
  alertsConfigured: boolean;
  expected: { lateral: boolean; techniques: readonly string[] };
  /** What the scenario expected and the correlation did not conclude. */
  gaps: string[];
}

const STEP_WAIT_MS = 10_000;
const POLL_MS = 50;

export function listScenarios() {
  return SCENARIOS.map((s) => ({ name: s.name, title: s.title, summary: s.summary, techniques: [...new Set(s.steps.map((x) => x.technique))], steps: s.steps.map((x) => x.does) }));
}

/** Run a scenario to its end and store its report. Throws `invalid_request` for an unknown scenario. */
export async function runScenario(deps: AppDeps, opts: DrillOptions): Promise<{ row: DrillRunRow; report: DrillReport }> {
  const scenario = findScenario(opts.scenario);
  if (!scenario) throw new AppError('invalid_request', `no scenario "${opts.scenario}": choose one of ${SCENARIOS.map((s) => s.name).join(', ')}`, { scenario: 'is not a scenario' });
  const { db, config, log } = deps;
  const run = newRunId();
  const started = new Date();
  await insertDrillRun(db, { id: run, scenario: scenario.name, createdBy: opts.actor.id, startedAt: started });
  await audit(db, { actor: opts.actor.id, action: 'drill.start', targetType: 'drill', targetId: run, ip: opts.actor.ip, details: { scenario: scenario.name } });
  const planted: TokenRow[] = [];
  const steps: DrillStepReport[] = [];
  try {
    for (const step of scenario.steps) {
      const { token, artifact } = await createToken(
        db,
        { config },
        { kind: step.decoy.kind, name: step.decoy.name, location: step.decoy.location, plantedHost: step.decoy.plantedHost, params: step.decoy.params, tags: [`${DRILL_TAG_PREFIX}${run}`] },
        opts.actor,
      );
      planted.push(token);
      steps.push(await perform(deps, run, step, token, artifact));
    }
    const incidents = await drillIncidents(deps, steps);
    const alertsConfigured = config.ALERT_TO.length > 0 || config.WEBHOOK_URLS.length > 0;
    const alerts = alertsConfigured ? await awaitAlerts(deps, incidents.map((i) => i.id), steps, opts.alertWaitMs ?? 20_000) : [];
    const gaps = gapsOf(scenario, steps, incidents, alerts, alertsConfigured);
    const report: DrillReport = {
      run,
      scenario: { name: scenario.name, title: scenario.title, summary: scenario.summary },
      status: gaps.length === 0 ? 'passed' : 'failed',
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      steps,
      incidents: incidents.map((i) => ({ id: i.id, severity: i.severity, lateral: i.lateral, techniques: i.techniques, summary: i.summary, url: `${config.ADMIN_URL}/incidents/${i.id}` })),
      alerts,
      alertsConfigured,
      expected: scenario.expect,
      gaps,
    };
    // The drill's incidents are closed (they stay readable, marked as the drill's) and its decoys retired.
    for (const i of incidents) await setIncidentStatus(db, i.id, 'closed');
    const row = await finishDrillRun(db, run, report.status, report as unknown as Record<string, unknown>);
    await audit(db, { actor: opts.actor.id, action: 'drill.finish', targetType: 'drill', targetId: run, ip: opts.actor.ip, details: { scenario: scenario.name, status: report.status, gaps } });
    log.info({ run, scenario: scenario.name, status: report.status, gaps }, 'purple-team drill finished');
    return { row: row as DrillRunRow, report };
  } catch (err) {
    await finishDrillRun(db, run, 'failed', { run, error: err instanceof Error ? err.message : String(err), steps }).catch(() => undefined);
    throw err;
  } finally {
    const entries = planted.map((t): AuditEntry => ({ actor: opts.actor.id, action: 'token.delete', targetType: 'token', targetId: t.id, ip: opts.actor.ip, details: { drill: run } }));
    await applyTokenAction(db, planted.map((t) => t.id), 'delete', entries).catch((err: unknown) => log.error({ err, run }, 'retiring drill decoys failed'));
  }
}

/** Do one step's action and wait for its hit to be stored and correlated. */
async function perform(deps: AppDeps, run: string, step: DrillStep, token: TokenRow, artifact: { url?: string; hostname?: string }): Promise<DrillStepReport> {
  const base: Omit<DrillStepReport, 'outcome' | 'sentAt' | 'recordedMs' | 'correlatedMs' | 'hitId' | 'incidentId' | 'channel'> = {
    does: step.does,
    technique: step.technique,
    decoy: { id: token.id, kind: token.kind, name: token.name, location: token.location ?? '', plantedHost: token.plantedHost },
    action: step.action,
  };
  const sent = Date.now();
  const skipped = (note: string): DrillStepReport => ({ ...base, outcome: 'skipped', note, sentAt: new Date(sent).toISOString(), recordedMs: null, correlatedMs: null, hitId: null, incidentId: null, channel: null });
  const ua = `${step.userAgent ?? 'Mozilla/5.0'} honeytrail-drill/${run}`;
  try {
    if (step.action === 'resolve') {
      const dns = local(deps, 'dns');
      if (!dns || !artifact.hostname) return skipped('the DNS listener does not run in this process');
      await resolveOnce(dns, artifact.hostname);
    } else {
      if (!artifact.url) return skipped('the decoy has no URL');
      const target = new URL(artifact.url);
      const body =
        step.action === 'sign-in'
          ? new URLSearchParams({ username: String(token.params.username ?? ''), password: String(token.params.password ?? '') }).toString()
          : undefined;
      await httpOnce(deps, target, ua, body);
    }
  } catch (err) {
    return { ...skipped(`the request failed: ${err instanceof Error ? err.message : String(err)}`), outcome: 'missed' };
  }
  const deadline = sent + STEP_WAIT_MS;
  let hit: HitRow | undefined;
  let recordedMs: number | null = null;
  while (Date.now() < deadline) {
    [hit] = await listHits(deps.db, { tokenId: token.id, limit: 1, order: 'asc' });
    if (hit && recordedMs === null) recordedMs = Math.max(0, hit.at.getTime() - sent);
    if (hit?.incidentId) break;
    await sleep(POLL_MS);
  }
  const correlatedMs = hit?.incidentId ? Date.now() - sent : null;
  return {
    ...base,
    outcome: hit?.incidentId ? 'fired' : 'missed',
    note: hit ? (hit.incidentId ? undefined : 'recorded but not correlated in time') : `nothing recorded within ${STEP_WAIT_MS / 1000} s`,
    sentAt: new Date(sent).toISOString(),
    recordedMs,
    correlatedMs,
    hitId: hit?.id ?? null,
    incidentId: hit?.incidentId ?? null,
    channel: hit?.channel ?? null,
  };
}

/** The drill's incidents, each followed to the incident it was merged into. */
async function drillIncidents(deps: AppDeps, steps: readonly DrillStepReport[]): Promise<IncidentRow[]> {
  const out = new Map<number, IncidentRow>();
  for (const s of steps) {
    let inc = s.incidentId ? await getIncident(deps.db, s.incidentId) : undefined;
    for (let i = 0; inc?.mergedInto && i < 20; i++) inc = await getIncident(deps.db, inc.mergedInto);
    if (inc) {
      out.set(inc.id, inc);
      s.incidentId = inc.id;
    }
  }
  return [...out.values()];
}

/** Wait until every alert due for the drill's incidents is delivered or has failed (or the wait ends). */
async function awaitAlerts(deps: AppDeps, incidentIds: readonly number[], steps: readonly DrillStepReport[], waitMs: number): Promise<DrillAlertReport[]> {
  const first = Math.min(...steps.map((s) => Date.parse(s.sentAt)));
  const deadline = Date.now() + waitMs;
  let rows: AlertRow[] = [];
  for (;;) {
    rows = (await Promise.all(incidentIds.map((id) => listAlerts(deps.db, { incidentId: id, limit: 50 })))).flat();
    const due = rows.filter((r) => r.nextAttemptAt.getTime() <= deadline);
    // Delivered, or tried and failed (a retry may follow): either way the report can say what happened.
    const settled = due.length > 0 && due.every((r) => r.status === 'sent' || r.status === 'failed' || r.status === 'dead');
    if (settled || Date.now() >= deadline) break;
    await sleep(100);
  }
  return rows
    .sort((a, b) => a.id - b.id)
    .map((r) => ({
      alertId: r.id,
      incidentId: r.incidentId,
      channel: r.channel,
      target: r.target,
      kind: r.kind,
      status: r.status,
      sentAfterMs: r.sentAt ? Math.max(0, r.sentAt.getTime() - first) : null,
      error: r.lastError,
    }));
}

function gapsOf(s: DrillScenario, steps: readonly DrillStepReport[], incidents: readonly IncidentRow[], alerts: readonly DrillAlertReport[], alertsConfigured: boolean): string[] {
  const gaps: string[] = [];
  for (const st of steps) if (st.outcome === 'missed') gaps.push(`decoy "${st.decoy.name}" did not fire: ${st.note ?? 'no hit'}`);
  const fired = steps.filter((st) => st.outcome === 'fired');
  if (fired.length > 0 && incidents.length !== 1) gaps.push(`the scenario is one intrusion; the correlation made ${incidents.length} incidents of it`);
  const lateral = incidents.some((i) => i.lateral);
  const allFired = steps.every((st) => st.outcome === 'fired');
  if (allFired && s.expect.lateral && !lateral) gaps.push('lateral movement was expected and not concluded');
  if (allFired && !s.expect.lateral && lateral) gaps.push('lateral movement was concluded where the scenario has none');
  const techniques = new Set(incidents.flatMap((i) => i.techniques));
  for (const t of s.expect.techniques) if (allFired && !techniques.has(t)) gaps.push(`technique ${t} was not named`);
  if (alertsConfigured) {
    for (const i of incidents) {
      if (!alerts.some((a) => a.incidentId === i.id && a.status === 'sent')) gaps.push(`no alert was delivered for incident #${i.id}`);
    }
  }
  return gaps;
}

type Address = { host: string; port: number };

/** A listener of this process, by name, reachable on loopback when it listens on every address. */
function local(deps: AppDeps, name: string): Address | null {
  const l = deps.listening?.().find((x) => x.name === name);
  if (!l) return null;
  const host = l.address.host === '0.0.0.0' ? '127.0.0.1' : l.address.host === '::' ? '::1' : l.address.host;
  return { host, port: l.address.port };
}

/** One request to the decoy's URL: at this process's public listener when it runs here (Host as published), else at the URL itself. */
function httpOnce(deps: AppDeps, url: URL, userAgent: string, form?: string): Promise<number> {
  const pub = local(deps, 'public');
  const headers: Record<string, string> = { 'User-Agent': userAgent, Accept: '*/*' };
  if (form !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    headers['Content-Length'] = String(Buffer.byteLength(form));
  }
  const options = pub
    ? { host: pub.host, port: pub.port, path: `${url.pathname}${url.search}`, method: form !== undefined ? 'POST' : 'GET', headers: { ...headers, Host: url.host } }
    : { host: url.hostname, port: url.port || undefined, path: `${url.pathname}${url.search}`, method: form !== undefined ? 'POST' : 'GET', headers };
  const send = !pub && url.protocol === 'https:' ? httpsRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(options, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(form);
  });
}

/** One A query for `name` at the DNS listener over UDP; resolves when it answers. */
function resolveOnce(to: Address, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(to.host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('the DNS listener did not answer within 3 s'));
    }, 3_000);
    socket.once('message', () => {
      clearTimeout(timer);
      socket.close();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    const query = dnsPacket.encode({ type: 'query', id: Math.floor(Math.random() * 65535), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
    socket.send(query, to.port, to.host);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
