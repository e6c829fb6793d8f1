// The one placement rule (src/server/visits/placement.ts): where a visit participant's media goes, from their role,
// admission, recording consent and (next) breakout assignment. Pure, so every case is written out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADMISSIONS } from '../src/server/db/schema.js';
import { breakoutGroup, MAIN_GROUP, mayBeRecorded, placementOf, waitingGroup } from '../src/server/visits/placement.js';

const ID = '6f1c2f4e-0000-4000-8000-000000000001';
const consented = new Date('2026-12-07T10:00:00Z');
const person = (role: 'host' | 'patient' | 'guest' | 'interpreter' | 'caregiver', admission: (typeof ADMISSIONS)[number], recordingConsentAt: Date | null = null) => ({
  id: ID,
  role,
  admission,
  recordingConsentAt,
});

describe('visit placement (pure)', () => {
  test('admitted: the main group, recorded only with recording consent', () => {
    assert.deepEqual(placementOf(person('patient', 'admitted')), { group: MAIN_GROUP, recorded: false });
    assert.deepEqual(placementOf(person('patient', 'admitted', consented)), { group: 'main', recorded: true });
    assert.deepEqual(placementOf(person('interpreter', 'admitted', consented)), { group: 'main', recorded: true });
  });

  test('the host is in the visit and recorded, whatever the admission column says', () => {
    assert.deepEqual(placementOf(person('host', 'admitted')), { group: 'main', recorded: true });
    assert.deepEqual(placementOf(person('host', 'invited')), { group: 'main', recorded: true });
  });

  test('everyone not admitted is alone in their own waiting group and never recorded, consent or not', () => {
    for (const admission of ['invited', 'waiting', 'denied', 'removed'] as const) {
      for (const consent of [null, consented]) {
        assert.deepEqual(placementOf(person('patient', admission, consent)), { group: `waiting-${ID}`, recorded: false }, `${admission}, consent ${consent !== null}`);
        assert.equal(mayBeRecorded(person('patient', admission, consent)), false);
      }
    }
    assert.equal(waitingGroup(ID), `waiting-${ID}`);
  });

  test('every admission has a placement (a new admission state must be placed on purpose)', () => {
    for (const admission of ADMISSIONS) {
      const { group } = placementOf(person('patient', admission));
      assert.ok(group === MAIN_GROUP || group === waitingGroup(ID), `${admission} → ${group}`);
    }
  });

  test('a breakout assignment moves the host and admitted people into its group; it never lets a waiting one in', () => {
    const room = 'b7a0c0de-0000-4000-8000-0000000000b1';
    assert.deepEqual(placementOf(person('patient', 'admitted', consented), { breakout: room }), { group: breakoutGroup(room), recorded: true });
    assert.deepEqual(placementOf(person('patient', 'admitted'), { breakout: room }), { group: `breakout-${room}`, recorded: false });
    assert.deepEqual(placementOf(person('host', 'admitted'), { breakout: room }), { group: `breakout-${room}`, recorded: true });
    assert.deepEqual(placementOf(person('patient', 'admitted', consented), { breakout: null }), { group: 'main', recorded: true }, 'null: back in the main room');
    for (const admission of ['invited', 'waiting', 'denied', 'removed'] as const) {
      assert.deepEqual(placementOf(person('patient', admission, consented), { breakout: room }), { group: `waiting-${ID}`, recorded: false }, admission);
    }
    // Group names stay within what the rooms API accepts for a group.
    assert.match(breakoutGroup(room), /^[A-Za-z0-9_-]{1,64}$/);
    assert.match(waitingGroup(ID), /^[A-Za-z0-9_-]{1,64}$/);
  });
});
