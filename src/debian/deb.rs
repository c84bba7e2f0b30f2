use std::path::Path;
pub struct DebInfo {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub source: Option<String>,
    pub control: String,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub size: u64,
}
pub fn read_deb(_path: &Path) -> Result<DebInfo, std::io::Error> {
    todo!()
}
