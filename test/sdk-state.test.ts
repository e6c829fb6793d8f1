// The SDK's connection state machine (src/sdk/state.ts) against its transition table: every (state, event)
// pair, written out here independently of the implementation's table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionMachine, EVENTS, STATES, TRANSITIONS, type ConnectionEvent, type ConnectionState } from '../src/sdk/state.js';

/** The expected table, row by row; '-' = ignored. */
const EXPECTED: Record<ConnectionState, Record<ConnectionEvent, ConnectionState | '-'>> = {
  //            connect        joined        signalLost      mediaFailed     failed          ended           retriesExhausted leave
  idle: { connect: 'connecting', joined: '-', signalLost: '-', mediaFailed: '-', failed: '-', ended: '-', retriesExhausted: '-', leave: 'disconnected' },
  connecting: { connect: '-', joined: 'connected', signalLost: 'disconnected', mediaFailed: '-', failed: 'disconnected', ended: 'disconnected', retriesExhausted: '-', leave: 'disconnected' },
  connected: { connect: '-', joined: '-', signalLost: 'reconnecting', mediaFailed: 'reconnecting', failed: '-', ended: 'disconnected', retriesExhausted: '-', leave: 'disconnected' },
  reconnecting: { connect: '-', joined: 'connected', signalLost: 'reconnecting', mediaFailed: 'reconnecting', failed: '-', ended: 'disconnected', retriesExhausted: 'disconnected', leave: 'disconnected' },
  disconnected: { connect: '-', joined: '-', signalLost: '-', mediaFailed: '-', failed: '-', ended: '-', retriesExhausted: '-', leave: '-' },
};

/** Drives a fresh machine into `state` through valid events. */
function machineIn(state: ConnectionState): ConnectionMachine {
  const m = new ConnectionMachine();
  const path: Record<ConnectionState, ConnectionEvent[]> = {
    idle: [],
    connecting: ['connect'],
    connected: ['connect', 'joined'],
    reconnecting: ['connect', 'joined', 'signalLost'],
    disconnected: ['connect', 'joined', 'leave'],
  };
  for (const event of path[state]) assert.equal(m.send(event).valid, true);
  assert.equal(m.state, state);
  return m;
}

describe('SDK connection state machine', () => {
  test('every (state, event) pair behaves as the table says; ignored pairs change nothing and notify no one', () => {
    let pairs = 0;
    for (const state of STATES) {
      for (const event of EVENTS) {
        const m = machineIn(state);
        const heard: string[] = [];
        m.onTransition((t) => heard.push(`${t.from}>${t.to}`));
        const expected = EXPECTED[state][event];
        const t = m.send(event);
        if (expected === '-') {
          assert.deepEqual([t.valid, m.state, heard], [false, state, []], `${state} + ${event}`);
        } else {
          assert.deepEqual([t.valid, m.state, heard], [true, expected, [`${state}>${expected}`]], `${state} + ${event}`);
        }
        pairs++;
      }
    }
    assert.equal(pairs, STATES.length * EVENTS.length);
    assert.equal(pairs, 40);
  });

  test('the exported table is exactly the expected one; disconnected is terminal and reachable from every state', () => {
    for (const state of STATES) {
      const listed = Object.fromEntries(EVENTS.map((e) => [e, TRANSITIONS[state][e] ?? '-']));
      assert.deepEqual(listed, EXPECTED[state], state);
      assert.equal(state === 'disconnected' || Object.values(TRANSITIONS[state]).includes('disconnected'), true, `${state} can end`);
    }
    assert.deepEqual(TRANSITIONS.disconnected, {});
  });

  test('a realistic session: connect, drop, recover twice, leave', () => {
    const m = new ConnectionMachine();
    const seen: ConnectionState[] = [];
    m.onTransition((t) => seen.push(t.to));
    for (const e of ['connect', 'joined', 'signalLost', 'signalLost', 'joined', 'mediaFailed', 'joined', 'leave', 'signalLost'] as const) m.send(e);
    assert.deepEqual(seen, ['connecting', 'connected', 'reconnecting', 'reconnecting', 'connected', 'reconnecting', 'connected', 'disconnected']);
  });
});
