import { guardedRouter } from './guard.ts';
import { Router } from 'express';
import { failedAlerts, firstRunFacts, listIncidents, neverTriggered, openIncidentsBySeverity, recentHits } from '../db/queries/admin-views.ts';
import { SEVERITIES } from '../db/schema.ts';
import { recentOverflow } from '../hits/overflow-report.ts';
import { freshness } from '../tokens/freshness.ts';
import type { TokenRow } from '../db/schema.ts';
import type { UiContext } from './context.ts';
import { alertView, assetLabeler, hitView, incidentView, kindLabel } from './presenters.ts';

/** The dashboard: what needs attention now. */
export function dashboardPage(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = guardedRouter();
  r.get('/', async (_req, res) => {
    const bySeverity = await openIncidentsBySeverity(db);
    const never = await neverTriggered(db, 10);
    const failures = await failedAlerts(db, 10);
    const open = await listIncidents(db, { status: 'active', limit: 10, offset: 0 });
    const hits = await recentHits(db, 15);
    const names = await assetLabeler(db);
    const overflow = await recentOverflow(db);
    const facts = await firstRunFacts(db);
    const fresh = await freshness(db);
    const steps = [
      { done: facts.alertTested, text: 'Send a test alert, so you know alerts reach you', href: '/settings', link: 'Settings' },
      { done: facts.tokens > 0, text: 'Plant your first decoy', href: '/tokens/new', link: 'New token' },
      { done: facts.assets > 0, text: 'Start the network map, so alerts name machines', href: '/assets', link: 'Network map' },
      { done: facts.users > 1 || facts.usersWithMfa > 0, text: 'Add a second admin or set up an authenticator app, so one lost password does not lock you out or let someone in', href: '/account/mfa', link: 'Authenticator' },
    ];
    ui.views.render(res, 'dashboard', {
      title: 'Dashboard',
      nav: 'dashboard',
      severities: [...SEVERITIES].reverse().map((s) => ({ severity: s, count: bySeverity[s] })),
      openIncidents: open.items.map(incidentView),
      hits: hits.map((h) => ({ ...hitView(h.hit, names, h.token), token: h.token })),
      never: never.items.map((t) => ({ ...t, kindLabel: kindLabel(t.kind) })),
      neverTotal: never.total,
      failures: failures.items.map(alertView),
      failuresTotal: failures.total,
      overflow: overflow.unstored + overflow.rateLimited > 0 ? overflow : null,
      checklist: steps.every((s) => s.done) ? null : { steps, left: steps.filter((s) => !s.done).length },
      anyTokens: facts.tokens > 0,
      freshness:
        fresh.due.length + fresh.missing.length + fresh.unseen.length > 0
          ? {
              due: fresh.due.slice(0, 10).map((d) => ({ ...tokenView(d.token), why: d.why === 'expired' ? 'expired' : 'rotation due', since: d.since })),
              missing: fresh.missing.slice(0, 10).map((t) => ({ ...tokenView(t), missingAt: t.missingAt })),
              unseen: fresh.unseen.slice(0, 10).map((u) => ({ ...tokenView(u.token), everyDays: u.everyDays, lastSeenAt: u.lastSeenAt })),
              total: fresh.due.length + fresh.missing.length + fresh.unseen.length,
            }
          : null,
    });
  });
  return r;
}

function tokenView(t: TokenRow) {
  return { id: t.id, name: t.name, location: t.location, plantedHost: t.plantedHost, plantedFile: t.plantedFile, kindLabel: kindLabel(t.kind) };
}
