// c360's GraphiQL page: renders GraphiQL against this server's /graphql with
// the defaults the server put in the page (src/http/graphiql.rs). A file of
// its own rather than an inline script, so the page's CSP can allow scripts
// from 'self' only.
'use strict';
(function () {
  var defaults = JSON.parse(document.getElementById('c360-graphiql-defaults').textContent);
  var props = {
    // Relative: the page and the API share an origin, behind a proxy too.
    fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
  };
  if (defaults.headers) {
    // A demo session (`serve --seed-demo --dev`): `query`, `variables` and
    // `headers` replace whatever tabs the browser kept from an earlier run,
    // whose token the restarted server may no longer accept; the headers
    // tab opens so the token in use is visible.
    props.query = defaults.query;
    props.variables = defaults.variables;
    props.headers = defaults.headers;
    props.defaultEditorToolsVisibility = 'headers';
  } else {
    // Only for a browser with no saved tabs.
    props.defaultQuery = defaults.query;
  }
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, props));
})();
