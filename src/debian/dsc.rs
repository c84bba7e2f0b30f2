use std::path::{Path, PathBuf};
pub struct DscFile {
    pub name: String,
    pub size: u64,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}
pub struct DscInfo {
    pub source: String,
    pub version: String,
    pub path: PathBuf,
    pub files: Vec<DscFile>,
    pub control: String,
}
impl DscInfo {
    pub fn file_names(&self) -> Vec<String> {
        todo!()
    }
    pub fn paths(&self) -> Vec<PathBuf> {
        todo!()
    }
}
pub fn read_dsc(_path: &Path) -> Result<DscInfo, std::io::Error> {
    todo!()
}
