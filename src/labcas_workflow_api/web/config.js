// Deployment settings of the web app. When the app is hosted apart from the API, set apiUrl
// to the API base (e.g. "https://example.org/labcas-workflow/dev"); empty means the page's
// own origin (and stage prefix). A "?api=URL" query parameter overrides it for one tab.
window.LABCAS_CONFIG = Object.assign({ apiUrl: "", refreshMs: 4000 }, window.LABCAS_CONFIG || {});
