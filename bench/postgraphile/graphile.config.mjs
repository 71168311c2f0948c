// PostGraphile v5 over the c360 bench database, configured like the gateway
// it is compared with: the same PostgreSQL server and database, a pool of 16
// connections (`C360_DB_MAX_CONNECTIONS=16` in c360-bench), no GraphiQL, no
// watch mode, no explain. The Amber preset is PostGraphile's default schema.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.PG_POOL_MAX ?? 16) },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 5678),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};

export default preset;
