import type { ReactNode } from 'react';

export interface Clinic {
  name: string;
  logoUrl: string | null;
}

/** The clinic's logo and name, on every check-in screen (the person always sees who this comes from). */
export function ClinicBar({ clinic, compact, prominent, children }: { clinic: Clinic; compact?: boolean; prominent?: boolean; children?: ReactNode }) {
  return (
    <div className={`care-clinic${compact ? ' care-clinic--compact' : ''}${prominent ? ' care-clinic--prominent' : ''}`}>
      <span className="care-clinic__name">
        {clinic.logoUrl ? <img className="care-clinic__logo" src={clinic.logoUrl} alt="" referrerPolicy="no-referrer" /> : null}
        <span className="care-clinic__text">{clinic.name}</span>
      </span>
      {children}
    </div>
  );
}
