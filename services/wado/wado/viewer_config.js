/* OHIF v3 configuration for this server, served as /viewer/app-config.js by wado.viewer.
   The DICOMweb root is on the page's own origin, so the viewer needs no CORS. */
const origin = window.location.origin;
window.config = {
  name: 'dicomweb',
  routerBasename: '/viewer',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  /*OIDC*/
  defaultDataSourceName: 'dicomweb',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dicomweb',
      configuration: {
        friendlyName: 'dicomweb',
        name: 'dicomweb',
        qidoRoot: origin + '/dicom-web',
        wadoRoot: origin + '/dicom-web',
        wadoUriRoot: origin + '/wado',
        qidoSupportsIncludeField: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'thumbnail',
        thumbnailRequestStrategy: 'fetch',
        enableStudyLazyLoad: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
        supportsReject: false,
        dicomUploadEnabled: false,
      },
    },
  ],
};
