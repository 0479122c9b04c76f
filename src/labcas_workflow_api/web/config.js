// Deployment settings of the web app, for whoever hosts these files. The app sends the token
// only to these API bases:
//   apiUrl:  the API base (e.g. "https://example.org/labcas-workflow/dev"); empty: the page's
//            own origin and stage prefix (…/dev/ui/ talks to …/dev);
//   apiUrls: further API bases a "?api=<base>" link may choose; any other ?api= is ignored.
// The standalone server writes its own config.js from its settings (LABCAS_WEB_API_URLS).
window.LABCAS_CONFIG = Object.freeze({ apiUrl: "", apiUrls: [], refreshMs: 4000 });
