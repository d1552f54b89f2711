// The local GraphiQL: React, GraphiQL and graphql-ws from /vendor (no CDN). After sign-in in
// the explorer, the Authorization header is pre-filled from the key in sessionStorage.
(function () {
  "use strict";
  const key = window.sessionStorage.getItem("cochlea.apiKey");
  const http = new URL("/graphql", window.location.href).href;
  const ws = http.replace(/^http/, "ws");
  const wsClient = window.graphqlWs.createClient({
    url: ws,
    lazy: true,
    connectionParams: () => (key ? { authorization: "Bearer " + key } : {}),
  });
  const fetcher = window.GraphiQL.createFetcher({ url: http, wsClient });
  const headers = key ? JSON.stringify({ Authorization: "Bearer " + key }, null, 2) : undefined;
  const root = window.ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    window.React.createElement(window.GraphiQL, {
      fetcher,
      defaultHeaders: headers,
      shouldPersistHeaders: false,
      defaultQuery: "{\n  stats { users sounds annotations }\n  viewer { name type }\n}\n",
    }),
  );
})();
