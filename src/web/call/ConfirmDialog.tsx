/** A modal confirmation (the native <dialog>: focus stays inside, Escape cancels). */
import { useEffect, useId, useRef, useState } from 'react';

export interface ConfirmProps {
  title: string;
  body: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}

export function ConfirmDialog({ title, body, confirmLabel, onConfirm, onCancel }: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    return () => {
      if (dialog.open) dialog.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="ov-dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      <p id={`${id}-body`}>{body}</p>
      <div className="ov-dialog__actions">
        <button type="button" onClick={onCancel} autoFocus>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** What asks for a confirmation (`ask`), and the dialog to render while one is asked (null otherwise). */
export function useConfirm() {
  const [asked, setAsked] = useState<Omit<ConfirmProps, 'onCancel'> | null>(null);
  return {
    /** Shows the dialog; it closes before `onConfirm` runs, and on Cancel or Escape. */
    ask(props: Omit<ConfirmProps, 'onCancel'>) {
      setAsked({
        ...props,
        onConfirm: () => {
          setAsked(null);
          props.onConfirm();
        },
      });
    },
    dialog: asked ? <ConfirmDialog {...asked} onCancel={() => setAsked(null)} /> : null,
  };
}
