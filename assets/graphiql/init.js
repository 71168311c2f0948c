// c360's GraphiQL page: renders GraphiQL against this server's /graphql with
// the defaults the server put in the page (src/http/graphiql.rs). A file of
// its own rather than an inline script, so the page's CSP can allow scripts
// from 'self' only.
'use strict';
(function () {
  var defaults = JSON.parse(document.getElementById('c360-graphiql-defaults').textContent);

  // Subscriptions run over a WebSocket to the same /graphql (the
  // graphql-transport-ws protocol, graphql-ws's client); queries and
  // mutations stay on HTTP. A browser cannot set headers on a WebSocket, so
  // the token goes in the connection_init payload: the Authorization of the
  // Headers tab the subscription runs with, as GraphiQL sends it over HTTP,
  // or, when that tab has none, the demo token of a `--dev` session.
  var socketUrl = new URL('/graphql', location.href);
  socketUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var authorization = function (headers) {
    for (var name in headers || {}) {
      if (name.toLowerCase() === 'authorization' && typeof headers[name] === 'string') return headers[name];
    }
    return undefined;
  };
  var demoAuthorization = defaults.headers ? authorization(JSON.parse(defaults.headers)) : undefined;
  // The headers of the operation being run, read when the socket connects:
  // it connects on the first subscription and closes after the last one
  // (graphql-ws's lazy mode), so each run after a change of token
  // connects with the new one.
  var runHeaders = null;
  var wsClient = graphqlWs.createClient({
    url: socketUrl.href,
    connectionParams: function () {
      var value = authorization(runHeaders) || demoAuthorization;
      return value ? { Authorization: value } : {};
    },
    // Close events are retried, as graphql-ws does by default, except 4403:
    // a token that does not verify would fail again, so it is shown at once
    // instead of after five retries.
    shouldRetry: function (event) {
      return typeof event === 'object' && event !== null && 'code' in event && 'reason' in event && event.code !== 4403;
    },
  });
  var fetcher = GraphiQL.createFetcher({ url: '/graphql', wsClient: wsClient });

  var props = {
    // Relative: the page and the API share an origin, behind a proxy too.
    fetcher: function (params, options) {
      runHeaders = options && options.headers;
      return fetcher(params, options);
    },
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
