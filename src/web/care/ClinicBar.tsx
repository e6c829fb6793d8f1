import type { ReactNode } from 'react';

export interface Clinic {
  name: string;
  logoUrl: string | null;
}

/** The clinic's logo and name, on every check-in screen (the person always sees who this comes from). */
export function ClinicBar({ clinic, compact, children }: { clinic: Clinic; compact?: boolean; children?: ReactNode }) {
  return (
    <div className={compact ? 'care-clinic care-clinic--compact' : 'care-clinic'}>
      <span className="care-clinic__name">
        {clinic.logoUrl ? <img className="care-clinic__logo" src={clinic.logoUrl} alt="" referrerPolicy="no-referrer" /> : null}
        <span className="care-clinic__text">{clinic.name}</span>
      </span>
      {children}
    </div>
  );
}
