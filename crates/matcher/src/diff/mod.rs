//! Two-capture alignment across SNAT. (Placeholder.)
