import { guardedRouter } from './guard.ts';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { assetInput, parseAssetCsv } from '../api/assets.ts';
import { deleteAsset, getAsset, insertAsset, insertAssets, listAssets, updateAsset } from '../db/queries/assets.ts';
import { audit } from '../db/queries/audit.ts';
import type { AssetRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { pager, uiActor, type UiContext } from './context.ts';
import { errorSummary, formParse } from './messages.ts';

const PER_PAGE = 50;
const idParam = z.object({ id: z.coerce.number().int().positive('is not an asset id') });
const CRITICALITIES = ['low', 'medium', 'high', 'critical'] as const;
const ASSET_LABELS = { label: { label: 'Label', id: 'a-label' }, cidr: { label: 'Address or CIDR', id: 'a-cidr' }, hostname: { label: 'Host name', id: 'a-host' }, segment: { label: 'Segment', id: 'a-seg' } };

/** Form body -> asset input: blanks are omitted so the shared schema applies its rules. */
function assetFromBody(body: Record<string, unknown>) {
  const out: Record<string, string> = {};
  for (const k of ['cidr', 'hostname', 'label', 'segment', 'criticality']) {
    const v = body[k];
    if (typeof v === 'string' && v.trim()) out[k] = v.trim();
  }
  return out;
}

/** The network map: list, add, edit, delete, and CSV import (pasted). */
export function assetPages(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = guardedRouter();

  const renderList = async (res: Response, page: number, extra: Record<string, unknown> = {}, status = 200) => {
    const { items, total } = await listAssets(db, PER_PAGE, (page - 1) * PER_PAGE);
    ui.views.render(
      res,
      'assets',
      { title: 'Network map', nav: 'assets', assets: items, criticalities: CRITICALITIES, pager: pager('/assets', {}, page, PER_PAGE, total), form: {}, fields: {}, ...extra },
      status,
    );
  };

  r.get('/assets', async (req, res) => {
    await renderList(res, z.coerce.number().int().min(1).max(100_000).catch(1).parse(req.query.page ?? 1));
  });

  r.post('/assets', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(assetInput, assetFromBody(body));
    if (!parsed.ok) return renderList(res, 1, { form: body, fields: parsed.fields, summary: errorSummary(parsed.fields, ASSET_LABELS) }, 400);
    const row = await insertAsset(db, parsed.data);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'asset.create', targetType: 'asset', targetId: String(row.id), ip: actor.ip });
    res.redirect(303, '/assets?msg=asset_added');
  });

  r.post('/assets/import', async (req, res) => {
    const csv = typeof req.body?.csv === 'string' ? req.body.csv : '';
    try {
      const imported = await insertAssets(db, parseAssetCsv(csv));
      const actor = uiActor(req, res);
      await audit(db, { actor: actor.id, action: 'asset.import', targetType: 'asset', ip: actor.ip, details: { imported } });
      res.redirect(303, '/assets?msg=imported');
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'invalid_request') throw err;
      const problems = Object.entries(err.fields ?? {}).map(([where, msg]) => ({ where, msg }));
      await renderList(res, 1, { csv, importError: err.message, importProblems: problems }, 400);
    }
  });

  const load = async (id: unknown): Promise<AssetRow> => {
    const parsed = idParam.safeParse({ id });
    const row = parsed.success ? await getAsset(db, parsed.data.id) : undefined;
    if (!row) throw new AppError('not_found', 'There is no network map entry at this address.');
    return row;
  };

  r.get('/assets/:id', async (req, res) => {
    const asset = await load(req.params.id);
    ui.views.render(res, 'asset', { title: `Asset ${asset.label}`, nav: 'assets', asset, form: asset, criticalities: CRITICALITIES, fields: {} });
  });

  r.post('/assets/:id', async (req, res) => {
    const asset = await load(req.params.id);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(assetInput, assetFromBody(body));
    if (!parsed.ok) {
      return ui.views.render(res, 'asset', { title: `Asset ${asset.label}`, nav: 'assets', asset, form: body, criticalities: CRITICALITIES, fields: parsed.fields, summary: errorSummary(parsed.fields, ASSET_LABELS) }, 400);
    }
    const a = parsed.data;
    await updateAsset(db, asset.id, { cidr: a.cidr ?? null, hostname: a.hostname ?? null, label: a.label, segment: a.segment ?? null, ...(a.criticality ? { criticality: a.criticality } : {}) });
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'asset.update', targetType: 'asset', targetId: String(asset.id), ip: actor.ip });
    res.redirect(303, '/assets?msg=saved');
  });

  r.get('/assets/:id/delete', async (req, res) => {
    const asset = await load(req.params.id);
    ui.views.render(res, 'confirm', {
      title: `Delete ${asset.label}`,
      nav: 'assets',
      heading: `Delete "${asset.label}" from the network map?`,
      text: `Alerts will no longer name ${[asset.cidr, asset.hostname].filter(Boolean).join(' / ')} as ${asset.label}. Hits already recorded keep what they said.`,
      action: `/assets/${asset.id}/delete`,
      button: 'Delete entry',
      cancel: '/assets',
    });
  });

  r.post('/assets/:id/delete', async (req, res) => {
    const asset = await load(req.params.id);
    await deleteAsset(db, asset.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'asset.delete', targetType: 'asset', targetId: String(asset.id), ip: actor.ip });
    res.redirect(303, '/assets?msg=deleted');
  });

  return r;
}
