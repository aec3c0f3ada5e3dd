//! One test per pitfall of taxonomy.md §2.3, with our own sentences.
