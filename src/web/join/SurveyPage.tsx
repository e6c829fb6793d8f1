import { useEffect, useState } from 'react';
import type { SurveyInfo } from '../../shared/api/visits.js';
import { ApiError, api } from '../api.js';
import { ClinicHeader } from './VisitContext.js';
import './join.css';

/** OpenVisit's post-visit survey: the link's token (after #) → one rating and an optional comment. */
const RATINGS = [
  [5, 'Excellent'],
  [4, 'Good'],
  [3, 'Fair'],
  [2, 'Poor'],
  [1, 'Very poor'],
] as const;

export function SurveyPage() {
  const [token] = useState(() => decodeURIComponent(window.location.hash.slice(1)));
  const [info, setInfo] = useState<SurveyInfo | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [rating, setRating] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!token) return void setProblem('This survey link is incomplete.');
    history.replaceState(null, '', '/survey');
    api<SurveyInfo>('POST', '/survey', { token })
      .then(setInfo)
      .catch((err: unknown) => setProblem(err instanceof ApiError ? err.message : 'The survey could not be opened.'));
  }, [token]);

  const submit = async () => {
    if (rating === null) return;
    setBusy(true);
    try {
      await api('POST', '/survey/answer', { token, rating, ...(comment.trim() ? { comment } : {}) });
      setSent(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_exists') setSent(true);
      else setProblem(err instanceof ApiError ? err.message : 'Your answer could not be sent. Try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="join">
      <ClinicHeader clinic={info?.clinic} />
      {problem && (
        <section className="card" role="alert">
          <h1>Survey</h1>
          <p>{problem}</p>
        </section>
      )}
      {!problem && !info && <p role="status">Opening the survey…</p>}
      {info && (sent || info.answered) && (
        <section className="card stack" role="status">
          <h1>Thank you</h1>
          <p>Your answer helps the clinic make visits better. You can close this page.</p>
        </section>
      )}
      {info && !sent && !info.answered && (
        <form
          className="card stack"
          aria-labelledby="survey-title"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <h1 id="survey-title">How was your visit with {info.clinicianName}?</h1>
          <fieldset className="ratings">
            <legend>Your rating</legend>
            {RATINGS.map(([value, label]) => (
              <label key={value} className="rating">
                <input type="radio" name="rating" value={value} checked={rating === value} onChange={() => setRating(value)} /> {label}
              </label>
            ))}
          </fieldset>
          <label htmlFor="survey-comment">Anything you would like to tell the clinic? (optional)</label>
          <textarea id="survey-comment" rows={4} maxLength={2000} value={comment} onChange={(e) => setComment(e.target.value)} />
          <button type="submit" className="primary" disabled={rating === null || busy}>
            Send
          </button>
        </form>
      )}
    </main>
  );
}
