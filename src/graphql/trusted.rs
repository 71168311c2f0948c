//! Trusted documents: operations a client names by id instead of sending
//! their text.
//!
//! Two ways in, as the ecosystem's clients send them:
//! - a manifest, built by the client's tooling at compile time (Relay's
//!   `persisted_queries.json`, graphql-codegen's `persisted-documents.json`,
//!   Apollo's `persisted-query-manifest.json`), loaded at start and on
//!   reload; a request names a document with `documentId` (the
//!   GraphQL-over-HTTP draft) or with Apollo's `extensions.persistedQuery`;
//! - automatic persisted queries (APQ), as Apollo Client sends them: the hash
//!   alone first, `PERSISTED_QUERY_NOT_FOUND`, then hash and text, which the
//!   server keeps (bounded) for the next time.
//!
//! Only manifest documents are trusted: a role that may run nothing else
//! (`--trusted-documents-only`) cannot make its own text trusted through APQ.
//! A trusted document skips full validation after its first successful run,
//! since the manifest cannot change it behind the server's back.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// APQ documents kept, beyond which the oldest registered is forgotten.
const APQ_CAPACITY: usize = 1_000;

/// The SHA-256 of a document's text, as lowercase hex: the id APQ and the
/// manifests' tooling give a document.
pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Documents by id, from a manifest file.
#[derive(Debug, Default)]
pub struct Manifest {
    documents: HashMap<String, Arc<str>>,
}

/// Apollo's manifest format; the other tools write a flat object.
#[derive(Deserialize)]
struct ApolloManifest {
    format: String,
    version: u32,
    operations: Vec<ApolloOperation>,
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

impl Manifest {
    /// Reads and checks a manifest file; the error says which entry is wrong.
    pub fn load(path: &Path) -> Result<Manifest, AppError> {
        let invalid = |why: String| {
            AppError::bad_input(
                "trusted_documents",
                format!("the trusted-document manifest {}: {why}", path.display()),
            )
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        Manifest::parse(&text).map_err(invalid)
    }

    /// A manifest from its JSON: `{ "<id>": "<document>", … }` or Apollo's
    /// `{ "format": "apollo-persisted-query-manifest", "version": 1,
    /// "operations": [{ "id", "body", … }] }`. Every document must parse, and
    /// an id that is a SHA-256 must be its document's.
    pub fn parse(json: &str) -> Result<Manifest, String> {
        let value: Json = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
        let entries: Vec<(String, String)> = match value {
            Json::Object(map) if map.contains_key("format") => {
                let apollo: ApolloManifest = serde_json::from_value(Json::Object(map))
                    .map_err(|e| format!("not an Apollo persisted-query manifest: {e}"))?;
                if apollo.format != "apollo-persisted-query-manifest" || apollo.version != 1 {
                    return Err(format!(
                        "unknown manifest format `{}` version {}; expected apollo-persisted-query-manifest version 1",
                        apollo.format, apollo.version
                    ));
                }
                apollo
                    .operations
                    .into_iter()
                    .map(|op| (op.id, op.body))
                    .collect()
            }
            Json::Object(map) => map
                .into_iter()
                .map(|(id, document)| match document {
                    Json::String(text) => Ok((id, text)),
                    _ => Err(format!("entry `{id}`: the document must be a string")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("the manifest must be a JSON object".into()),
        };
        let mut documents = HashMap::with_capacity(entries.len());
        for (id, text) in entries {
            if id.is_empty() {
                return Err("an entry has an empty id".into());
            }
            if let Err(e) = async_graphql::parser::parse_query(&text) {
                return Err(format!("entry `{id}` is not a GraphQL document: {e}"));
            }
            if is_sha256(&id) && !id.eq_ignore_ascii_case(&sha256_hex(&text)) {
                return Err(format!(
                    "entry `{id}`: the id is a SHA-256 but not its document's ({})",
                    sha256_hex(&text)
                ));
            }
            if documents
                .insert(id.to_ascii_lowercase(), text.into())
                .is_some()
            {
                return Err(format!("entry `{id}` appears twice"));
            }
        }
        Ok(Manifest { documents })
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    fn get(&self, id: &str) -> Option<Arc<str>> {
        self.documents.get(&id.to_ascii_lowercase()).cloned()
    }
}

fn is_sha256(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a request names instead of, or beside, its text.
#[derive(Debug, Default)]
pub struct Naming {
    /// `documentId`, with or without the draft's `sha256:` prefix.
    pub document_id: Option<String>,
    /// `extensions.persistedQuery.sha256Hash`.
    pub persisted_hash: Option<String>,
}

impl Naming {
    /// Reads `extensions.persistedQuery` as Apollo sends it.
    pub fn from_extensions(
        document_id: Option<String>,
        extensions: &Json,
    ) -> Result<Naming, AppError> {
        let field = "extensions.persistedQuery";
        let persisted_hash = match extensions.get("persistedQuery") {
            None | Some(Json::Null) => None,
            Some(Json::Object(pq)) => {
                if pq.get("version").and_then(Json::as_u64) != Some(1) {
                    return Err(AppError::bad_input(
                        field,
                        "only version 1 of persisted queries is supported",
                    ));
                }
                match pq.get("sha256Hash") {
                    Some(Json::String(hash)) if is_sha256(hash) => Some(hash.to_ascii_lowercase()),
                    _ => {
                        return Err(AppError::bad_input(
                            field,
                            "`sha256Hash` must be the 64 hex digits of the document's SHA-256",
                        ));
                    }
                }
            }
            Some(_) => return Err(AppError::bad_input(field, "must be an object")),
        };
        Ok(Naming {
            document_id,
            persisted_hash,
        })
    }
}

/// A request's document, found.
#[derive(Debug)]
pub struct Resolved {
    pub query: Arc<str>,
    /// Whether the document is in the manifest.
    pub trusted: bool,
}

/// The manifest and the APQ store of one server.
#[derive(Debug)]
pub struct TrustedDocuments {
    path: Option<PathBuf>,
    manifest: RwLock<Arc<Manifest>>,
    apq: Mutex<Apq>,
}

/// Registered APQ documents, oldest first out.
#[derive(Debug, Default)]
struct Apq {
    by_hash: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl TrustedDocuments {
    /// The manifest at `path`, if any; a manifest that does not load is an error.
    pub fn load(path: Option<&Path>) -> Result<TrustedDocuments, AppError> {
        let manifest = match path {
            Some(p) => Manifest::load(p)?,
            None => Manifest::default(),
        };
        Ok(TrustedDocuments {
            path: path.map(Path::to_path_buf),
            manifest: RwLock::new(Arc::new(manifest)),
            apq: Mutex::default(),
        })
    }

    /// Reads the manifest file again. On error the loaded manifest stays.
    pub fn reload(&self) -> Result<usize, AppError> {
        let Some(path) = &self.path else {
            return Ok(0);
        };
        let manifest = Manifest::load(path)?;
        let count = manifest.len();
        *self.manifest.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(manifest);
        Ok(count)
    }

    fn manifest(&self) -> Arc<Manifest> {
        self.manifest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The document a request runs: its text, or the one its id names.
    /// `restricted` callers may run manifest documents only, so their APQ
    /// text is not kept.
    pub fn resolve(
        &self,
        query: Option<String>,
        naming: Naming,
        restricted: bool,
    ) -> Result<Resolved, AppError> {
        let manifest = self.manifest();
        if let Some(id) = naming.document_id {
            if query.is_some() {
                return Err(AppError::bad_input(
                    "documentId",
                    "send either `query` or `documentId`, not both",
                ));
            }
            let bare = id.strip_prefix("sha256:").unwrap_or(&id);
            return manifest
                .get(bare)
                .map(|query| Resolved {
                    query,
                    trusted: true,
                })
                .ok_or_else(|| {
                    AppError::PersistedQueryNotFound(format!(
                        "no trusted document has the id `{id}`; build the manifest the server loads from the same client"
                    ))
                });
        }
        match (query, naming.persisted_hash) {
            (Some(text), Some(hash)) => {
                if sha256_hex(&text) != hash {
                    return Err(AppError::bad_input(
                        "extensions.persistedQuery.sha256Hash",
                        "the hash is not the SHA-256 of the query sent with it",
                    ));
                }
                let trusted = manifest.get(&hash).is_some();
                let query: Arc<str> = text.into();
                if !trusted && !restricted {
                    self.register(hash, query.clone());
                }
                Ok(Resolved { query, trusted })
            }
            (None, Some(hash)) => {
                if let Some(query) = manifest.get(&hash) {
                    return Ok(Resolved {
                        query,
                        trusted: true,
                    });
                }
                let apq = self.apq.lock().unwrap_or_else(|p| p.into_inner());
                apq.by_hash
                    .get(&hash)
                    .cloned()
                    .map(|query| Resolved {
                        query,
                        trusted: false,
                    })
                    // Apollo Client matches this exact message, then sends the text.
                    .ok_or_else(|| {
                        AppError::PersistedQueryNotFound("PersistedQueryNotFound".into())
                    })
            }
            (Some(text), None) => {
                let trusted = !manifest.is_empty() && manifest.get(&sha256_hex(&text)).is_some();
                Ok(Resolved {
                    query: text.into(),
                    trusted,
                })
            }
            (None, None) => Err(AppError::invalid("the request has no `query`")),
        }
    }

    fn register(&self, hash: String, query: Arc<str>) {
        let mut apq = self.apq.lock().unwrap_or_else(|p| p.into_inner());
        if apq.by_hash.contains_key(&hash) {
            return;
        }
        if apq.order.len() >= APQ_CAPACITY
            && let Some(oldest) = apq.order.pop_front()
        {
            apq.by_hash.remove(&oldest);
        }
        apq.order.push_back(hash.clone());
        apq.by_hash.insert(hash, query);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "query Q { __typename }";

    #[test]
    fn flat_and_apollo_manifests_load_and_bad_ones_say_why() {
        let hash = sha256_hex(DOC);
        let flat = Manifest::parse(&format!(r#"{{"{hash}": "{DOC}", "relay-7": "{{ x }}"}}"#));
        assert_eq!(flat.map(|m| m.len()), Ok(2));
        let apollo = Manifest::parse(&format!(
            r#"{{"format":"apollo-persisted-query-manifest","version":1,"operations":[{{"id":"{hash}","name":"Q","type":"query","body":"{DOC}"}}]}}"#
        ));
        assert_eq!(apollo.map(|m| m.len()), Ok(1));
        let wrong = "0".repeat(64);
        for (json, why) in [
            ("[1]".to_owned(), "must be a JSON object"),
            ("{".to_owned(), "not valid JSON"),
            (r#"{"a": 5}"#.to_owned(), "must be a string"),
            (
                r#"{"a": "query {"}"#.to_owned(),
                "is not a GraphQL document",
            ),
            (format!(r#"{{"{wrong}": "{DOC}"}}"#), "not its document's"),
            (
                r#"{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}"#
                    .to_owned(),
                "unknown manifest format",
            ),
        ] {
            let err = Manifest::parse(&json).err().unwrap_or_default();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn apq_registers_with_a_bound_and_never_trusts() {
        let docs = TrustedDocuments::load(None).expect("no manifest");
        let hash = sha256_hex(DOC);
        let named = || Naming {
            document_id: None,
            persisted_hash: Some(hash.clone()),
        };
        assert!(matches!(
            docs.resolve(None, named(), false),
            Err(AppError::PersistedQueryNotFound(_))
        ));
        let sent = docs
            .resolve(Some(DOC.into()), named(), false)
            .expect("registered");
        assert!(!sent.trusted);
        let again = docs.resolve(None, named(), false).expect("found");
        assert_eq!(&*again.query, DOC);
        assert!(!again.trusted);
        for i in 0..APQ_CAPACITY {
            let text = format!("{{ a{i}: __typename }}");
            let naming = Naming {
                document_id: None,
                persisted_hash: Some(sha256_hex(&text)),
            };
            assert!(docs.resolve(Some(text), naming, false).is_ok());
        }
        assert!(
            docs.resolve(None, named(), false).is_err(),
            "the oldest is forgotten"
        );
        let mismatch = docs.resolve(Some("{ b: __typename }".into()), named(), false);
        assert!(matches!(mismatch, Err(AppError::BadUserInput { .. })));
    }
}
