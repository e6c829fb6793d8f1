import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

/**
 * Before the call: the camera preview, a microphone level meter, a test sound for the speakers, a connection check,
 * and pickers for the camera and microphone. Clear help when permission is denied or the browser cannot do video
 * calls. Hands the captured tracks on, so the call publishes them without asking again. "Continue" sits in an action
 * bar that stays at the bottom of the screen (a phone shows the preview and pickers above it, scrolling).
 */
export interface DeviceCheckProps {
  onReady: (tracks: MediaStreamTrack[]) => void;
  /** Shown under the title (whose visit this is). */
  intro?: ReactNode;
}

type Problem = { kind: 'unsupported' | 'denied' | 'missing' | 'busy' | 'other'; message: string };

export function browserSupported(): boolean {
  return typeof RTCPeerConnection !== 'undefined' && !!navigator.mediaDevices?.getUserMedia && typeof WebSocket !== 'undefined';
}

function problemOf(err: unknown): Problem {
  const name = err instanceof DOMException ? err.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return {
      kind: 'denied',
      message:
        'The browser was not allowed to use your camera and microphone. Click the camera icon in the address bar (or open the site settings), allow the camera and microphone, then press "Try again".',
    };
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return { kind: 'missing', message: 'No camera or microphone was found. Plug one in, then press "Try again".' };
  if (name === 'NotReadableError' || name === 'AbortError') return { kind: 'busy', message: 'Your camera or microphone is in use by another app. Close it, then press "Try again".' };
  return { kind: 'other', message: `Your camera and microphone could not be started (${name || 'unknown error'}).` };
}

export function DeviceCheck({ onReady, intro }: DeviceCheckProps) {
  const video = useRef<HTMLVideoElement>(null);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [problem, setProblem] = useState<Problem | null>(browserSupported() ? null : { kind: 'unsupported', message: 'This browser cannot make video calls. Use a recent Chrome, Edge, Firefox or Safari.' });
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [cameraId, setCameraId] = useState('');
  const [micId, setMicId] = useState('');
  const [level, setLevel] = useState(0);
  const [connection, setConnection] = useState<'checking' | 'ok' | 'failed'>('checking');
  const [starting, setStarting] = useState(false);
  const handedOver = useRef(false);

  const start = useCallback(async () => {
    if (!browserSupported()) return;
    setStarting(true);
    try {
      const next = await navigator.mediaDevices.getUserMedia({
        audio: micId ? { deviceId: { exact: micId } } : true,
        video: cameraId ? { deviceId: { exact: cameraId } } : true,
      });
      setStream((old) => {
        old?.getTracks().forEach((t) => t.stop());
        return next;
      });
      setProblem(null);
      setDevices(await navigator.mediaDevices.enumerateDevices());
    } catch (err) {
      setProblem(problemOf(err));
    } finally {
      setStarting(false);
    }
  }, [cameraId, micId]);

  useEffect(() => {
    void start();
  }, [start]);

  // Stop the tracks when leaving without continuing (the call keeps them otherwise).
  useEffect(
    () => () => {
      if (!handedOver.current) stream?.getTracks().forEach((t) => t.stop());
    },
    [stream],
  );

  useEffect(() => {
    if (video.current && stream) video.current.srcObject = stream;
  }, [stream]);

  // The microphone meter: the loudness of what the microphone hears, about 20 times a second.
  useEffect(() => {
    const track = stream?.getAudioTracks()[0];
    if (!track) return;
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      setLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
    }, 50);
    return () => {
      clearInterval(timer);
      void context.close();
    };
  }, [stream]);

  // The connection check: can this browser reach the server (and how fast)?
  useEffect(() => {
    const started = performance.now();
    fetch('/readyz', { cache: 'no-store' })
      .then((res) => setConnection(res.ok && performance.now() - started < 5000 ? 'ok' : 'failed'))
      .catch(() => setConnection('failed'));
  }, []);

  const playTestSound = () => {
    const context = new AudioContext();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.0001, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.3, context.currentTime + 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + 0.8);
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.8);
    tone.onended = () => void context.close();
  };

  const cameras = devices.filter((d) => d.kind === 'videoinput');
  const mics = devices.filter((d) => d.kind === 'audioinput');
  const ready = stream !== null && problem === null;

  return (
    <section className="card stack device-check" aria-labelledby="device-check-title">
      <h1 id="device-check-title">Check your camera and microphone</h1>
      {intro}
      {problem && (
        <div className="notice error" role="alert">
          <p>{problem.message}</p>
          {problem.kind !== 'unsupported' && (
            <button type="button" onClick={() => void start()} disabled={starting}>
              Try again
            </button>
          )}
        </div>
      )}
      <div className="preview">
        <video ref={video} autoPlay playsInline muted aria-label="Your camera preview" />
      </div>
      <div>
        <span id="mic-level-label">Microphone level</span>
        <meter aria-labelledby="mic-level-label" min={0} max={1} value={level} className="mic-meter" />
        <p className="muted">Say something: the bar should move.</p>
      </div>
      <div className="row">
        <div className="grow">
          <label htmlFor="camera-select">Camera</label>
          <select id="camera-select" value={cameraId} onChange={(e) => setCameraId(e.target.value)} disabled={cameras.length === 0}>
            <option value="">Default camera</option>
            {cameras.map((c, i) => (
              <option key={c.deviceId || i} value={c.deviceId}>
                {c.label || `Camera ${i + 1}`}
              </option>
            ))}
          </select>
        </div>
        <div className="grow">
          <label htmlFor="mic-select">Microphone</label>
          <select id="mic-select" value={micId} onChange={(e) => setMicId(e.target.value)} disabled={mics.length === 0}>
            <option value="">Default microphone</option>
            {mics.map((m, i) => (
              <option key={m.deviceId || i} value={m.deviceId}>
                {m.label || `Microphone ${i + 1}`}
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="row">
        <button type="button" onClick={playTestSound}>
          Play test sound
        </button>
        <span className="muted">You should hear a short tone.</span>
      </div>
      <div className="join-actions join-actions--row">
        <p role="status" className="join-actions__status">
          Connection: {connection === 'checking' ? 'checking…' : connection === 'ok' ? 'good' : 'the server could not be reached; check your internet connection.'}
        </p>
        <button
          type="button"
          className="primary"
          disabled={!ready}
          onClick={() => {
            handedOver.current = true;
            onReady(stream!.getTracks());
          }}
        >
          Continue
        </button>
      </div>
    </section>
  );
}
