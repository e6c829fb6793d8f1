import assert from 'node:assert/strict';
import type { Message } from '../../src/shared/api/messaging.js';
import type { Caller, TestOrg } from './builders.js';

/** Polls until `probe` gives a value (bounded in time). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface PatientOptions {
  phone?: string;
  email?: string;
  timeZone?: string;
  sms?: 'granted' | 'revoked' | null;
  givenName?: string;
}

/** A patient created through the API, with the SMS consent asked for (granted by default). */
export async function newPatient(org: TestOrg, options: PatientOptions = {}): Promise<{ id: string; phone: string | null }> {
  const res = await org.clinician.post('/api/v1/patients', {
    givenName: options.givenName ?? 'Mia',
    familyName: 'Texter',
    ...(options.phone !== undefined ? { phone: options.phone } : {}),
    ...(options.email !== undefined ? { email: options.email } : {}),
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  });
  assert.equal(res.statusCode, 201, res.body);
  const patient = res.json() as { id: string; phone: string | null };
  const sms = options.sms === undefined ? 'granted' : options.sms;
  if (sms) {
    const c = await org.clinician.post(`/api/v1/patients/${patient.id}/consents`, { kind: 'sms', status: sms, method: 'verbal' });
    assert.equal(c.statusCode, 201, c.body);
  }
  return patient;
}

export async function send(who: Caller, patientId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return who.request('POST', `/api/v1/patients/${patientId}/messages`, body, headers);
}

export async function messageOf(who: Caller, id: string): Promise<Message> {
  const res = await who.get(`/api/v1/messages/${id}`);
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as Message;
}

export async function untilStatus(who: Caller, id: string, status: Message['status'] | Message['status'][], timeoutMs = 15_000): Promise<Message> {
  const wanted = Array.isArray(status) ? status : [status];
  return waitFor(`message ${id} to be ${wanted.join('/')}`, async () => {
    const m = await messageOf(who, id);
    return wanted.includes(m.status) ? m : undefined;
  }, timeoutMs);
}

export async function conversation(who: Caller, patientId: string): Promise<Message[]> {
  const res = await who.get(`/api/v1/patients/${patientId}/messages?limit=200`);
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { data: Message[] }).data;
}
