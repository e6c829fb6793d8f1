/** Small line icons for the call controls (decorative: every control has a text name). */
import type { ReactNode } from 'react';

function Svg({ children, off }: { children: ReactNode; off?: boolean }) {
  return (
    <svg className="ov-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
      {children}
      {off ? <path d="M3 3l18 18" /> : null}
    </svg>
  );
}

export const MicIcon = ({ off }: { off?: boolean }) => (
  <Svg off={off}>
    <rect x="9" y="3" width="6" height="11" rx="3" />
    <path d="M5 11a7 7 0 0 0 14 0M12 18v3" />
  </Svg>
);

export const CameraIcon = ({ off }: { off?: boolean }) => (
  <Svg off={off}>
    <rect x="3" y="6" width="13" height="12" rx="2" />
    <path d="M16 10l5-3v10l-5-3z" />
  </Svg>
);

export const ScreenIcon = ({ off }: { off?: boolean }) => (
  <Svg off={off}>
    <rect x="3" y="4" width="18" height="12" rx="2" />
    <path d="M8 20h8M12 16v4" />
  </Svg>
);

export const LeaveIcon = () => (
  <Svg>
    <path d="M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3M10 17l-5-5 5-5M5 12h11" />
  </Svg>
);

export const ChatIcon = () => (
  <Svg>
    <path d="M4 5h16v11H9l-5 4z" />
  </Svg>
);

export const PeopleIcon = () => (
  <Svg>
    <circle cx="9" cy="8" r="3" />
    <path d="M3 20a6 6 0 0 1 12 0M16 5a3 3 0 0 1 0 6M21 20a6 6 0 0 0-4-5.6" />
  </Svg>
);

export const GalleryIcon = () => (
  <Svg>
    <rect x="3" y="4" width="8" height="7" rx="1" />
    <rect x="13" y="4" width="8" height="7" rx="1" />
    <rect x="3" y="13" width="8" height="7" rx="1" />
    <rect x="13" y="13" width="8" height="7" rx="1" />
  </Svg>
);

export const SpeakerIcon = () => (
  <Svg>
    <rect x="3" y="3" width="18" height="12" rx="1" />
    <rect x="3" y="17" width="5" height="4" rx="1" />
    <rect x="9.5" y="17" width="5" height="4" rx="1" />
    <rect x="16" y="17" width="5" height="4" rx="1" />
  </Svg>
);

export const RecordIcon = ({ stop }: { stop?: boolean }) => (
  <Svg>{stop ? <rect x="7" y="7" width="10" height="10" rx="1" /> : <circle cx="12" cy="12" r="6" />}</Svg>
);

export const EndIcon = () => (
  <Svg>
    <path d="M3 14c5-4 13-4 18 0l-2 3-4-1v-3a11 11 0 0 0-6 0v3l-4 1z" />
  </Svg>
);

export const SoundIcon = () => (
  <Svg>
    <path d="M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M19 6a8 8 0 0 1 0 12" />
  </Svg>
);

export const HandIcon = () => (
  <Svg>
    <path d="M8 13V5.5a1.5 1.5 0 0 1 3 0V11M11 10.5V4a1.5 1.5 0 0 1 3 0v6.5M14 10.5V5.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7h-.5a6 6 0 0 1-5-2.7L3 15.5a1.5 1.5 0 0 1 2.5-1.7L8 16" />
  </Svg>
);
