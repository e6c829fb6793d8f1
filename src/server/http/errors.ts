import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FORMAT_RULES } from '../../shared/dates.js';
import { sqlState } from '../db/index.js';
import { serializeError } from './logging.js';
import { ERRORS, type ErrorBody, type ErrorCode, type ErrorDetail } from '../../shared/errors.js';

/** The one error type. Throw it from anywhere; the error handler turns it into the catalogue's body. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: ErrorDetail[] | Record<string, unknown>,
  ) {
    super(message ?? ERRORS[code].message);
    this.name = 'AppError';
    this.status = ERRORS[code].status;
  }
}

export function errorBody(code: ErrorCode, requestId: string, message?: string, details?: ErrorBody['error']['details']): ErrorBody {
  const body: ErrorBody = { error: { code, message: message ?? ERRORS[code].message, requestId } };
  if (details !== undefined) body.error.details = details;
  return body;
}

/** Fastify's own client errors, by code, mapped into the catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CHARSET: 'unsupported_media_type',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'bad_request',
  FST_ERR_ASYNC_CONSTRAINT: 'bad_request',
};

/** The first catalogue code with this status (the general one: codes are listed general-first). */
function codeForStatus(status: number): ErrorCode {
  for (const [code, entry] of Object.entries(ERRORS) as [ErrorCode, (typeof ERRORS)[ErrorCode]][]) if (entry.status === status) return code;
  return 'bad_request';
}

interface AjvLikeError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

function validationDetails(error: FastifyError): ErrorDetail[] {
  const context = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  // One detail per field: a nullable field (anyOf) yields an error per branch; the first says the most.
  const byPath = new Map<string, ErrorDetail>();
  for (const v of (error.validation ?? []) as AjvLikeError[]) {
    let field = v.instancePath ?? '';
    let message = v.message ?? 'is invalid';
    if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') field += `/${v.params.missingProperty}`;
    if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') {
      field += `/${v.params.additionalProperty}`;
      message = 'is not a known field';
    }
    // A format's own rule (a date-time's range, say) rather than ajv's bare 'must match format "date-time"'.
    if (v.keyword === 'format' && typeof v.params?.format === 'string' && FORMAT_RULES[v.params.format]) message = FORMAT_RULES[v.params.format]!;
    const path = `${context}${field}`;
    if (!byPath.has(path)) byPath.set(path, { path, message });
  }
  return [...byPath.values()];
}

export function handleError(error: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AppError) {
    if (error.status === 429) reply.header('retry-after', reply.getHeader('retry-after') ?? '60');
    void reply.status(error.status).send(errorBody(error.code, request.id, error.message, error.details));
    return;
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    void reply.status(400).send(errorBody('validation_failed', request.id, undefined, validationDetails(fe)));
    return;
  }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) {
    void reply.status(ERRORS[mapped].status).send(errorBody(mapped, request.id));
    return;
  }
  if (fe instanceof SyntaxError && typeof fe.statusCode === 'number' && fe.statusCode === 400) {
    void reply.status(400).send(errorBody('invalid_json', request.id));
    return;
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // A client error from a plugin we have not mapped: the catalogue code of the same status, so status
    // and code always agree; a status the catalogue lacks becomes a plain 400.
    const code = codeForStatus(fe.statusCode);
    void reply.status(ERRORS[code].status).send(errorBody(code, request.id));
    return;
  }
  // The SQLSTATE, the route and the request id: never the query's text or parameters (serializeError).
  request.log.error({ err: serializeError(error), sqlState: sqlState(error), method: request.method, route: request.routeOptions.url, requestId: request.id }, 'unhandled error');
  void reply.status(500).send(errorBody('internal_error', request.id));
}

/**
 * Errors Fastify raises while routing, before any hook runs (a path that is not valid percent-encoding,
 * a path parameter over maxParamLength): answered in the same shape, with the request id, as the rest.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
  handleError(error, request, reply);
}

/** Why Node's HTTP parser refused a request, by its error code, for the answer's message. */
const PARSER_REASONS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'The request headers are larger than the server accepts (16 KB).',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'The request has both Content-Length and Transfer-Encoding, or conflicting lengths.',
  HPE_INVALID_CONTENT_LENGTH: 'The request has an invalid or repeated Content-Length.',
  HPE_INVALID_TRANSFER_ENCODING: 'The request has an invalid Transfer-Encoding.',
  HPE_INVALID_CHUNK_SIZE: 'The request body is not valid chunked encoding.',
  HPE_INVALID_METHOD: 'The request line is not valid HTTP (unknown method).',
  HPE_INVALID_URL: 'The request line is not valid HTTP (invalid target).',
  HPE_INVALID_VERSION: 'The request line is not valid HTTP (unknown version).',
  HPE_INVALID_CONSTANT: 'The request is not valid HTTP.',
  HPE_INVALID_HEADER_TOKEN: 'A request header is not valid HTTP.',
  HPE_LF_EXPECTED: 'The request is not valid HTTP (bad line ending).',
  HPE_CR_EXPECTED: 'The request is not valid HTTP (bad line ending).',
};

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers over 16 KB, a malformed request
 * line, conflicting Content-Length and Transfer-Encoding, a request not received in time): answered in the
 * same shape, with a request id, written to the socket directly (there is no request or reply object),
 * then the connection is closed. Only the parser's code is logged: its raw packet may hold credentials.
 */
export function handleClientError(this: { log: { debug(obj: object, msg: string): void } }, err: Error & { code?: string }, socket: Socket): void {
  // A reset connection is gone; nothing to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'bad_request';
  const requestId = randomUUID();
  this.log.debug({ parserCode: err.code, requestId }, 'client error');
  // Answer only when no response is under way on this connection (as Node itself does).
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = ERRORS[code].status;
  const message = code === 'bad_request' ? (PARSER_REASONS[err.code ?? ''] ?? 'The request is not valid HTTP.') : code === 'headers_too_large' ? PARSER_REASONS.HPE_HEADER_OVERFLOW! : undefined;
  const body = JSON.stringify(errorBody(code, requestId, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'X-Content-Type-Options: nosniff\r\n' +
      'Connection: close\r\n\r\n' +
      body,
    () => socket.destroy(),
  );
}
