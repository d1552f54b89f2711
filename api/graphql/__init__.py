"""The GraphQL surface: thin resolvers that parse, call a service and map the result."""
