import type { Request } from 'express';
import busboy from 'busboy';
import { AppError } from '../errors.ts';
import type { UploadedFile } from '../tokens/kind.ts';

/**
 * `multipart/form-data` bodies (a document upload with its form fields), read with busboy into
 * memory only: the file never touches the disk, and every part is bounded (the file by
 * UPLOAD_MAX_BYTES, fields by count and size), so an oversized upload is a 413 and a malformed
 * one a 400, with nothing kept.
 */

export interface MultipartBody {
  /** Form fields; a name sent more than once keeps every value, in order. */
  fields: Record<string, string | string[]>;
  /** The one file part named `file`, if sent (an empty file part counts as none). */
  file?: UploadedFile;
}

export interface MultipartLimits {
  maxFileBytes: number;
  /** Largest value of one field. @default 1 MiB */
  maxFieldBytes?: number;
  /** Most fields. @default 200 */
  maxFields?: number;
  /** Collect the fields here (so a caller still has those read before a failure). */
  into?: Record<string, string | string[]>;
}

export function isMultipart(req: Request): boolean {
  return /^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '');
}

const tooLarge = (max: number) => new AppError('payload_too_large', `the uploaded file is too large (limit ${max} bytes, UPLOAD_MAX_BYTES)`, { file: `is larger than ${max} bytes` });

/** Read a multipart request: fields and the `file` part, or an AppError (400/413). */
export function readMultipart(req: Request, limits: MultipartLimits): Promise<MultipartBody> {
  const maxField = limits.maxFieldBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fileSize: limits.maxFileBytes, files: 1, fields: limits.maxFields ?? 200, fieldSize: maxField, parts: (limits.maxFields ?? 200) + 1, fieldNameSize: 200 },
        defParamCharset: 'utf8',
      });
    } catch {
      reject(new AppError('invalid_request', 'Invalid request: the multipart body has no boundary'));
      return;
    }
    const fields: Record<string, string | string[]> = limits.into ?? {};
    let file: UploadedFile | undefined;
    let failed: AppError | null = null;
    const fail = (err: AppError) => {
      if (failed) return;
      failed = err;
      req.unpipe(parser);
      // Drain what the client still sends, so it reads the answer instead of a reset connection.
      req.resume();
      reject(err);
    };
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new AppError('payload_too_large', `Invalid request: ${name}: is longer than ${maxField} bytes`, { [name]: `is longer than ${maxField} bytes` }));
      const had = fields[name];
      fields[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return fail(new AppError('invalid_request', `Invalid request: ${name}: files are taken only as the field "file"`, { [name]: 'files are taken only as the field "file"' }));
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(tooLarge(limits.maxFileBytes)));
      stream.on('end', () => {
        if (failed || stream.truncated) return;
        const body = Buffer.concat(chunks);
        if (body.length > 0) file = { filename: info.filename ?? '', body };
      });
    });
    parser.on('filesLimit', () => fail(new AppError('invalid_request', 'Invalid request: file: upload one file at a time', { file: 'upload one file at a time' })));
    parser.on('fieldsLimit', () => fail(new AppError('invalid_request', 'Invalid request: too many form fields')));
    parser.on('partsLimit', () => fail(new AppError('invalid_request', 'Invalid request: too many form parts')));
    parser.on('error', () => fail(new AppError('invalid_request', 'Invalid request: the multipart body is malformed')));
    parser.on('close', () => {
      if (!failed) resolve({ fields, ...(file ? { file } : {}) });
    });
    req.on('aborted', () => fail(new AppError('invalid_request', 'Invalid request: the upload was interrupted')));
    req.pipe(parser);
  });
}

const LIST_FIELDS = ['tags', 'alertEmails', 'webhooks', 'ignoreCidrs'];

/**
 * The JSON body `POST /tokens` takes, from multipart fields: the usual fields by name (lists as
 * repeated fields or one comma- or line-separated value), `params` as a JSON object and/or
 * `params.<name>` fields (text values; numbers and booleans as in JSON).
 */
export function tokenBodyFromFields(fields: MultipartBody['fields']): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const params: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(fields)) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] ?? '' : raw;
    if (name === 'params') {
      try {
        Object.assign(params, JSON.parse(value) as Record<string, unknown>);
      } catch {
        throw new AppError('invalid_request', 'Invalid request: params: is not a JSON object', { params: 'is not a JSON object' });
      }
    } else if (name.startsWith('params.')) params[name.slice(7)] = value;
    else if (LIST_FIELDS.includes(name)) body[name] = (Array.isArray(raw) ? raw : raw.split(/[\r\n,]+/)).map((s) => s.trim()).filter(Boolean);
    else if (value !== '') body[name] = value;
  }
  return Object.keys(params).length ? { ...body, params } : body;
}
