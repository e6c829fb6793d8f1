/**
 * Our own microphone, camera and screen share, as the control bar shows and toggles them. They read the SDK's local
 * participant on every render (useCallRoom re-renders the call when it changes) and act through `run` (useActions.ts:
 * busy while under way, a failure in the problem banner).
 */
import type { LocalPeer, Run } from './room.js';
import { mediaMessage } from './useCallRoom.js';

export function microphoneAndCamera(local: LocalPeer | null, run: Run) {
  const micOn = local?.microphoneEnabled ?? false;
  const cameraTrack = local?.tracks.get('camera') ?? null;
  const deviceProblem = (what: string, on: boolean) => (e: unknown) =>
    on ? `Your ${what} could not be turned on. ${e instanceof Error ? mediaMessage(e) : ''}` : `Your ${what} could not be turned off. ${e instanceof Error ? e.message : ''}`;
  return {
    micOn,
    cameraTrack,
    toggleMic() {
      if (local) void run('mic', () => local.setMicrophoneEnabled(!micOn), deviceProblem('microphone', !micOn));
    },
    toggleCamera() {
      if (local) void run('camera', () => local.setCameraEnabled(!cameraTrack), deviceProblem('camera', !cameraTrack));
    },
  };
}

export function screenShare(local: LocalPeer | null, run: Run) {
  const sharing = local?.screenSharing ?? false;
  return {
    sharing,
    /** The browser can share a screen at all (phones cannot). */
    canShare: typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function',
    toggleShare() {
      if (!local) return;
      void run(
        'screen',
        async () => {
          if (sharing) await local.stopScreenShare();
          else await local.startScreenShare();
        },
        // Closing the browser's picker is a choice, not an error.
        (e) => (e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'AbortError') ? null : `Screen sharing could not start. ${e instanceof Error ? e.message : ''}`),
      );
    },
  };
}
