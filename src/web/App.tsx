import { BrowserRouter, Route, Routes } from 'react-router';
import { CarePage } from './care/CarePage.js';
import { ConsoleRoutes } from './console/ConsoleRoutes.js';
import { IntakePage } from './join/IntakePage.js';
import { JoinFlow } from './join/JoinFlow.js';
import { SurveyPage } from './join/SurveyPage.js';

/** Client routes; the server answers each of these paths with this app (src/server/web/routes.ts WEB_ROUTES). */
export function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/join" element={<JoinFlow />} />
        <Route path="/survey" element={<SurveyPage />} />
        <Route path="/intake" element={<IntakePage />} />
        <Route path="/care" element={<CarePage />} />
        <Route path="/*" element={<ConsoleRoutes />} />
      </Routes>
    </BrowserRouter>
  );
}
