//! FidoNet packets, echomail messages, bundles and BBS text exports (issue 3).
